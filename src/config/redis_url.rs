//! The Redis URL of `[store] url`, read once when the configuration loads
//! (so that `esia-gate check` names a bad one) and again by the store when
//! it connects. Passwords never appear in an error or a debug print.

use redis::IntoConnectionInfo;

/// Where Redis is, as parsed from the URL. Passwords are never printed.
#[derive(Clone)]
pub enum Target {
    Standalone(redis::ConnectionInfo),
    Sentinel {
        nodes: Vec<(String, u16)>,
        master: String,
        tls: bool,
        db: i64,
        username: Option<String>,
        password: Option<String>,
    },
    Cluster {
        nodes: Vec<(String, u16)>,
        tls: bool,
        username: Option<String>,
        password: Option<String>,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Standalone(i) => write!(f, "standalone {}", i.addr()),
            Target::Sentinel { nodes, master, .. } => {
                write!(f, "sentinel {nodes:?} master {master}")
            }
            Target::Cluster { nodes, .. } => write!(f, "cluster {nodes:?}"),
        }
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{s}`: unclosed `[` in an IPv6 address"))?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), Some(p)),
            None if after.is_empty() => (h.to_string(), None),
            None => return Err(format!("`{s}` is not host:port")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("a node without a host name".into());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("`{s}`: the port must be a number"))?,
        None => default_port,
    };
    Ok((host, port))
}

/// Parse a `[store] url`. Errors name the problem, never the password.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let (scheme, rest) = url.split_once("://").ok_or(
        "must start with redis://, rediss://, redis+sentinel://, redis+cluster:// (or rediss+...)",
    )?;
    let kind = match scheme {
        "redis" | "rediss" | "unix" | "redis+unix" => {
            let info = url.into_connection_info().map_err(
                |_| "is not a valid Redis URL (redis://[user:password@]host[:port][/db])",
            )?;
            return Ok(Target::Standalone(info));
        }
        "redis+sentinel" | "rediss+sentinel" => "sentinel",
        "redis+cluster" | "rediss+cluster" => "cluster",
        other => {
            return Err(format!(
                "unknown scheme `{other}`: use redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://"
            ));
        }
    };
    let tls = scheme.starts_with("rediss");
    if rest.contains(['?', '#']) {
        return Err("takes no query or fragment".into());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (creds, hosts) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let (username, password) = match creds {
        Some(c) => match c.split_once(':') {
            Some((u, p)) => (
                Some(decode(u)).filter(|u| !u.is_empty()),
                Some(decode(p)).filter(|p| !p.is_empty()),
            ),
            None => (Some(decode(c)).filter(|u| !u.is_empty()), None),
        },
        None => (None, None),
    };
    let default_port = if kind == "sentinel" { 26379 } else { 6379 };
    let nodes = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| host_port(h, default_port))
        .collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() {
        return Err("names no node (host:port, comma separated)".into());
    }
    if kind == "sentinel" {
        let mut parts = path.split('/').filter(|p| !p.is_empty());
        let master = parts
            .next()
            .map(decode)
            .ok_or("needs the master's name: redis+sentinel://host1:26379,host2:26379/mymaster")?;
        let db = match parts.next() {
            Some(d) => d
                .parse::<i64>()
                .map_err(|_| "the part after the master name must be a database number")?,
            None => 0,
        };
        if parts.next().is_some() {
            return Err("has too many path parts (/master[/db])".into());
        }
        Ok(Target::Sentinel {
            nodes,
            master,
            tls,
            db,
            username,
            password,
        })
    } else {
        if !path.is_empty() {
            return Err("Redis Cluster has no databases: remove the path".into());
        }
        Ok(Target::Cluster {
            nodes,
            tls,
            username,
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms_parse_and_errors_hide_the_password() {
        assert!(matches!(
            parse_url("redis://127.0.0.1:6379/0"),
            Ok(Target::Standalone(_))
        ));
        assert!(matches!(
            parse_url("rediss://user:secret@redis.example:6380"),
            Ok(Target::Standalone(_))
        ));
        match parse_url("redis+sentinel://u:p%40ss@s1,s2:26380/main/2") {
            Ok(Target::Sentinel {
                nodes,
                master,
                tls,
                db,
                username,
                password,
            }) => {
                assert_eq!(
                    nodes,
                    vec![("s1".to_string(), 26379), ("s2".to_string(), 26380)]
                );
                assert_eq!(master, "main");
                assert!(!tls);
                assert_eq!(db, 2);
                assert_eq!(username.as_deref(), Some("u"));
                assert_eq!(password.as_deref(), Some("p@ss"));
            }
            other => panic!("{other:?}"),
        }
        match parse_url("rediss+cluster://:pw@[::1]:7000,10.0.0.2") {
            Ok(Target::Cluster {
                nodes,
                tls,
                username,
                password,
            }) => {
                assert_eq!(
                    nodes,
                    vec![("::1".to_string(), 7000), ("10.0.0.2".to_string(), 6379)]
                );
                assert!(tls);
                assert_eq!(username, None);
                assert_eq!(password.as_deref(), Some("pw"));
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "http://x",
            "redis+sentinel://a:1,b:2",
            "redis+cluster://a:1/3",
            "redis+cluster://",
            "redis+sentinel://u:topsecret@a:x/m",
            "rediss://u:topsecret@:::",
        ] {
            let e = parse_url(bad).expect_err(bad);
            assert!(!e.contains("topsecret"), "{e}");
        }
    }
}
