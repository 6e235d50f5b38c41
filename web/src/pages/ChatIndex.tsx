export default function ChatIndexPage(_props: Record<string, unknown>) { return <p>Coming soon</p>; }
