//! Where to listen and what to run, from flags and environment variables.

/// Port when neither a flag nor the environment gives one (OpenWhisk's).
pub const DEFAULT_PORT: u16 = 8080;

pub const USAGE: &str = "\
usage: action-proxy [--host HOST] [--port PORT] [--kind KIND]

OpenWhisk action runtime: serves POST /init and POST /run.

  --host   address to listen on   (env __OW_PROXY_HOST, default 0.0.0.0)
  --port   port to listen on      (env __OW_PROXY_PORT, then PORT, default 8080)
  --kind   nodejs:*, python:*, native, blackbox (env __OW_KIND; default: native for
           code starting with #! or ELF, else /init fails)

Other environment: __OW_PROXY_NODE (default node), __OW_PROXY_PYTHON (default python3),
ACTION_PROXY_LOG (the proxy's own diagnostics on stderr: off (default), error, warn, info,
debug or trace).
";

#[derive(Debug, PartialEq, Eq)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub kind: Option<String>,
    pub node: String,
    pub python: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve(Config),
    Help,
}

/// Flags win over the environment. `env` is a lookup so that tests need not touch the
/// process environment.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut host = None;
    let mut port = None;
    let mut kind = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let slot = match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--host" => &mut host,
            "--port" => &mut port,
            "--kind" => &mut kind,
            _ => return Err(format!("unknown argument '{arg}'\n\n{USAGE}")),
        };
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(format!("{flag} needs a value\n\n{USAGE}")),
        };
        *slot = Some(value);
    }

    let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let port = match port
        .or_else(|| non_empty("__OW_PROXY_PORT"))
        .or_else(|| non_empty("PORT"))
    {
        Some(text) => text
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("invalid port '{text}'"))?,
        None => DEFAULT_PORT,
    };
    Ok(Command::Serve(Config {
        host: host
            .or_else(|| non_empty("__OW_PROXY_HOST"))
            .unwrap_or_else(|| "0.0.0.0".to_string()),
        port,
        kind: kind.or_else(|| non_empty("__OW_KIND")),
        node: non_empty("__OW_PROXY_NODE").unwrap_or_else(|| "node".to_string()),
        python: non_empty("__OW_PROXY_PYTHON").unwrap_or_else(|| "python3".to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn serve(args: &[&str], env: &'static [(&'static str, &'static str)]) -> Config {
        match parse(args.iter().map(|a| a.to_string()), env_of(env)).unwrap() {
            Command::Serve(config) => config,
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults() {
        let config = serve(&[], &[]);
        assert_eq!(config.host, "0.0.0.0");
        assert_eq!(config.port, 8080);
        assert_eq!(config.kind, None);
        assert_eq!(config.node, "node");
        assert_eq!(config.python, "python3");
    }

    #[test]
    fn proxy_port_beats_port_and_flags_beat_both() {
        let env = &[
            ("__OW_PROXY_PORT", "9000"),
            ("PORT", "9001"),
            ("__OW_KIND", "python:3"),
        ];
        assert_eq!(serve(&[], env).port, 9000);
        assert_eq!(serve(&[], &[("PORT", "9001")]).port, 9001);
        let config = serve(
            &["--port", "7000", "--host=127.0.0.1", "--kind", "native"],
            env,
        );
        assert_eq!(config.port, 7000);
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.kind.as_deref(), Some("native"));
        assert_eq!(serve(&[], env).kind.as_deref(), Some("python:3"));
    }

    #[test]
    fn bad_input_is_an_error() {
        let none = |_: &str| None;
        assert!(parse(["--port".to_string()], none).is_err());
        assert!(parse(["--port=x".to_string()], none).is_err());
        assert!(parse(["--what".to_string()], none).is_err());
        assert_eq!(parse(["--help".to_string()], none).unwrap(), Command::Help);
    }
}
