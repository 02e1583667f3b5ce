//! The one table of names: for every operation a shell exposes, the app's command, the HTTP
//! method and path of `headroom serve`, and the key the web UI uses. The server routes and the
//! app registers from it, error messages list it, and `ui/src/bindings/operations.ts` is
//! generated from it (`cargo test -p headroom-core export_bindings`).

/// An operation reachable from a shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// The latest snapshot.
    Snapshot,
    /// History points.
    History,
    /// The journal.
    Events,
    /// The configuration in force.
    Config,
    /// Validate or save a configuration.
    PutConfig,
    /// Clear MLX caches.
    ClearCache,
    /// Set an MLX limit.
    SetLimit,
    /// The GPU wired limit and its suggestion.
    WiredLimit,
    /// Validate a GPU wired limit (the app, before asking to confirm).
    CheckWiredLimit,
    /// Set the GPU wired limit (the app only: administrator rights, a local click).
    SetWiredLimit,
    /// Will a model fit?
    Fit,
    /// The doctor's findings.
    Doctor,
    /// What holds memory, by app.
    Top,
    /// The host's health.
    Health,
    /// The live feed (Server-Sent Events; the app emits events instead).
    Stream,
    /// "Enable for this Python": the agent for an MLX process's Python environment.
    EnableAgent,
    /// The page has painted its first sample (the app only: a new popover is shown then).
    PagePainted,
}

/// The names of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    /// The operation.
    pub op: Op,
    /// The key in the web UI's tables (camelCase).
    pub key: &'static str,
    /// The app's command, if the app offers it.
    pub command: Option<&'static str>,
    /// `headroom serve`'s method and path, if the server offers it.
    pub route: Option<(&'static str, &'static str)>,
}

const fn names(
    op: Op,
    key: &'static str,
    command: Option<&'static str>,
    route: Option<(&'static str, &'static str)>,
) -> Names {
    Names {
        op,
        key,
        command,
        route,
    }
}

/// Every operation with its names.
pub const TABLE: [Names; 17] = [
    names(
        Op::Snapshot,
        "snapshot",
        Some("get_snapshot"),
        Some(("GET", "/api/snapshot")),
    ),
    names(
        Op::History,
        "history",
        Some("get_history"),
        Some(("GET", "/api/history")),
    ),
    names(
        Op::Events,
        "events",
        Some("get_events"),
        Some(("GET", "/api/events")),
    ),
    names(
        Op::Config,
        "config",
        Some("get_config"),
        Some(("GET", "/api/config")),
    ),
    names(
        Op::PutConfig,
        "putConfig",
        Some("put_config"),
        Some(("PUT", "/api/config")),
    ),
    names(
        Op::ClearCache,
        "clearCache",
        Some("clear_cache"),
        Some(("POST", "/api/actions/clear-cache")),
    ),
    names(
        Op::SetLimit,
        "setLimit",
        Some("set_limit"),
        Some(("POST", "/api/actions/limit")),
    ),
    names(
        Op::WiredLimit,
        "wiredLimit",
        Some("get_wired_limit"),
        Some(("GET", "/api/wired-limit")),
    ),
    names(
        Op::CheckWiredLimit,
        "checkWiredLimit",
        Some("check_wired_limit"),
        None,
    ),
    names(
        Op::SetWiredLimit,
        "setWiredLimit",
        Some("set_wired_limit"),
        None,
    ),
    names(Op::Fit, "fit", Some("get_fit"), Some(("GET", "/api/fit"))),
    names(
        Op::Doctor,
        "doctor",
        Some("get_doctor"),
        Some(("GET", "/api/doctor")),
    ),
    names(Op::Top, "top", Some("get_top"), Some(("GET", "/api/top"))),
    names(Op::Health, "health", None, Some(("GET", "/api/health"))),
    names(Op::Stream, "stream", None, Some(("GET", "/api/stream"))),
    names(
        Op::EnableAgent,
        "enableAgent",
        Some("enable_agent"),
        Some(("POST", "/api/agent/enable")),
    ),
    names(Op::PagePainted, "pagePainted", Some("page_painted"), None),
];

impl Op {
    /// This operation's names.
    pub fn names(self) -> &'static Names {
        // Every operation has one row (checked by a test); the first row is never reached.
        TABLE.iter().find(|n| n.op == self).unwrap_or(&TABLE[0])
    }

    /// `headroom serve`'s path ("" when the server does not offer it).
    pub fn path(self) -> &'static str {
        self.names().route.map_or("", |(_, p)| p)
    }

    /// The path under the `/api` router.
    pub fn api_path(self) -> &'static str {
        self.path().strip_prefix("/api").unwrap_or("")
    }

    /// The app's command name ("" when the app does not offer it).
    pub fn command(self) -> &'static str {
        self.names().command.unwrap_or("")
    }
}

/// The live feed's events: the app emits them to its window, `/api/stream` sends them as the
/// Server-Sent Events' `event:` field. Each is `(the UI's key, the name)`.
pub const EVENTS: [(&str, &str); 2] = [("snapshot", EVENT_SNAPSHOT), ("journal", EVENT_JOURNAL)];
/// The event carrying each snapshot.
pub const EVENT_SNAPSHOT: &str = "snapshot";
/// The event carrying each journal entry.
pub const EVENT_JOURNAL: &str = "journal";

/// Every route of `headroom serve`, for error messages: `GET /api/snapshot, …, GET /metrics`.
pub fn endpoints() -> String {
    let mut list: Vec<String> = TABLE
        .iter()
        .filter_map(|n| n.route)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    list.push("GET /metrics".into());
    list.join(", ")
}

/// `capabilities` (the app's `src-tauri/capabilities/default.json`) with its `allow-<command>`
/// permissions replaced by one per command of [`TABLE`], in table order. Every other line —
/// the windows, Tauri's own permissions — is kept as written.
pub fn capabilities(current: &str) -> Result<String, String> {
    let open = "\"permissions\": [";
    let start = current
        .find(open)
        .ok_or_else(|| format!("no {open} in the capabilities file"))?
        + open.len();
    let end = start
        + current[start..]
            .find(']')
            .ok_or("the permissions list is not closed")?;
    let indent = "    ";
    let mut items: Vec<String> = current[start..end]
        .split(',')
        .map(|p| p.trim().trim_matches('"').to_string())
        .filter(|p| !p.is_empty() && !p.starts_with("allow-"))
        .collect();
    items.extend(
        TABLE
            .iter()
            .filter_map(|n| n.command)
            .map(|c| format!("allow-{}", c.replace('_', "-"))),
    );
    let list: Vec<String> = items.iter().map(|p| format!("{indent}\"{p}\"")).collect();
    Ok(format!(
        "{}\n{}\n  {}",
        &current[..start],
        list.join(",\n"),
        &current[end..]
    ))
}

/// The TypeScript module `ui/src/bindings/operations.ts`.
pub fn typescript() -> String {
    let mut out = String::from(
        "// Generated from crates/headroom-core/src/ops/table.rs by \
         `cargo test -p headroom-core export_bindings`. Do not edit.\n\n",
    );
    let table = |name: &str, doc: &str, f: &dyn Fn(&Names) -> Option<String>| {
        let mut t = format!("/** {doc} */\nexport const {name} = {{\n");
        for n in &TABLE {
            if let Some(v) = f(n) {
                t += &format!("  {}: {v},\n", n.key);
            }
        }
        t + "} as const;\n\n"
    };
    out += &table("COMMANDS", "The app's commands.", &|n: &Names| {
        n.command.map(|c| format!("'{c}'"))
    });
    out += &table("PATHS", "`headroom serve`'s paths.", &|n: &Names| {
        n.route.map(|(_, p)| format!("'{p}'"))
    });
    out += &table(
        "METHODS",
        "`headroom serve`'s method of each path.",
        &|n: &Names| n.route.map(|(m, _)| format!("'{m}'")),
    );
    out += "/** The live feed's events (the app's events, the stream's `event:` field). */\n";
    out += "export const EVENTS = {\n";
    for (key, name) in EVENTS {
        out += &format!("  {key}: '{name}',\n");
    }
    out += "} as const;\n";
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_one_row_and_names_are_unique() {
        let mut keys: Vec<&str> = TABLE.iter().map(|n| n.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), TABLE.len());
        let mut commands: Vec<&str> = TABLE.iter().filter_map(|n| n.command).collect();
        let count = commands.len();
        commands.sort_unstable();
        commands.dedup();
        assert_eq!(commands.len(), count);
        for n in &TABLE {
            assert_eq!(n.op.names(), n);
        }
        assert_eq!(Op::Fit.api_path(), "/fit");
        assert!(endpoints().starts_with("GET /api/snapshot, GET /api/history"));
    }

    #[test]
    fn export_bindings_operations() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings");
        std::fs::write(dir.join("operations.ts"), typescript()).unwrap();
        let caps = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../src-tauri/capabilities/default.json");
        let text = std::fs::read_to_string(&caps).unwrap();
        std::fs::write(&caps, capabilities(&text).unwrap()).unwrap();
    }

    #[test]
    fn capabilities_keep_other_permissions_and_grant_every_command() {
        let file = "{\n  \"windows\": [\"main\"],\n  \"permissions\": [\n    \"core:event:allow-listen\",\n    \"allow-gone\"\n  ]\n}\n";
        let out = capabilities(file).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let perms: Vec<&str> = v["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str())
            .collect();
        assert_eq!(perms[0], "core:event:allow-listen");
        assert!(perms.contains(&"allow-get-snapshot"));
        assert!(!perms.contains(&"allow-gone"));
        assert_eq!(v["windows"][0], "main");
        assert_eq!(capabilities(&out).unwrap(), out, "stable");
        assert!(capabilities("{}").is_err());
    }
}
