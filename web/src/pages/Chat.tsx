export default function ChatPage(_props: Record<string, unknown>) { return <p>Coming soon</p>; }
