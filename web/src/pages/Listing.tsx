export default function ListingPage(_props: Record<string, unknown>) { return <p>Coming soon</p>; }
