import { createRoot } from "react-dom/client";
import { loadConfig, setCurrentConfig } from "./lib/config";
import { setApiUrl } from "./lib/graphql";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);

async function start(): Promise<void> {
  try {
    const config = await loadConfig();
    setCurrentConfig(config);
    setApiUrl(config.apiUrl || "/graphql");
    // The app (wagmi, React Query, routes) loads once the configuration is known.
    const { App } = await import("./App");
    root.render(<App config={config} />);
  } catch {
    root.render(
      <div className="app">
        <main>
          <div className="error" role="alert">
            The PRSM server is not reachable (its configuration, /config.json, did not load). Check your connection and{" "}
            <button type="button" className="link" onClick={() => void start()}>
              try again
            </button>
            .
          </div>
        </main>
      </div>,
    );
  }
}

void start();
