//! `redis+sentinel://` URLs: which sentinels to ask, for which primary,
//! with which credentials, and the `redis::sentinel` client built from
//! them. The store asks that client for the current primary when it
//! connects and again whenever the primary may have changed (see
//! `Shared::rediscover` in the parent module).
//!
//! The sentinels also announce each failover on their `+switch-master`
//! channel; the store listens to one of them at a time
//! ([`SentinelUrl::sentinel_clients`], `watch_switches` in the parent
//! module) so it follows at once rather than at its next poll.
//!
//! The URL's password is the data password (the one `redis://` URLs carry,
//! and that `--redis-password` inserts); the sentinels' own password is
//! separate ([`super::RedisOptions::sentinel_password`]) because Sentinel
//! deployments usually protect sentinels and data nodes differently.

use ::redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use ::redis::{
    Client, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, TlsCertificates, TlsMode,
};

/// A parsed `redis+sentinel://` or `rediss+sentinel://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelUrl {
    /// `rediss+sentinel://`: TLS to the sentinels and to the data nodes.
    pub tls: bool,
    /// `(host, port)` of every sentinel, in the order given.
    pub sentinels: Vec<(String, u16)>,
    /// The name the sentinels monitor the primary under.
    pub master: String,
    pub db: i64,
    pub username: Option<String>,
    /// The data password (percent-decoded).
    pub password: Option<String>,
}

/// The schemes of a Sentinel URL.
pub const SCHEMES: [&str; 2] = ["redis+sentinel://", "rediss+sentinel://"];

/// Whether `url` names sentinels rather than one Redis.
pub fn is_sentinel_url(url: &str) -> bool {
    SCHEMES.iter().any(|s| url.starts_with(s))
}

const FORM: &str =
    "expected redis+sentinel://[:password@]host:port[,host:port...]/MASTER_NAME[/db]";

impl SentinelUrl {
    /// Parses `url`; the error says what is wrong with it, never the password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("rediss+sentinel://") {
            (true, rest)
        } else {
            return Err(FORM.to_string());
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| s.into_owned())
                        .map_err(|_| "the credentials are not valid UTF-8 once decoded".to_string())
                };
                let user = (!user.is_empty()).then(|| decode(user)).transpose()?;
                let pass = (!pass.is_empty()).then(|| decode(pass)).transpose()?;
                (user, pass)
            }
        };
        let mut sentinels = Vec::new();
        for host in hosts.split(',') {
            let host = host.trim();
            let Some((name, port)) = host.rsplit_once(':') else {
                return Err(format!(
                    "sentinel {host:?} has no port (sentinels usually listen on 26379); {FORM}"
                ));
            };
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("sentinel {host:?}: {port:?} is not a port; {FORM}"))?;
            let name = name.trim_start_matches('[').trim_end_matches(']');
            if name.is_empty() {
                return Err(format!("sentinel {host:?} has no host; {FORM}"));
            }
            sentinels.push((name.to_string(), port));
        }
        let mut parts = path.split('/');
        let master = parts.next().unwrap_or("").to_string();
        if master.is_empty() {
            return Err(format!("no master name after the sentinels; {FORM}"));
        }
        let db = match parts.next() {
            None | Some("") => 0,
            Some(db) => db
                .parse::<i64>()
                .ok()
                .filter(|d| *d >= 0)
                .ok_or_else(|| format!("database {db:?} is not a number; {FORM}"))?,
        };
        if parts.next().is_some() {
            return Err(format!("too many path segments; {FORM}"));
        }
        Ok(Self {
            tls,
            sentinels,
            master,
            db,
            username,
            password,
        })
    }

    /// A client for the data node at `host:port` (a primary a sentinel
    /// announced), with the URL's credentials, database and TLS.
    pub fn node_client(
        &self,
        host: &str,
        port: u16,
        ca: Option<Vec<u8>>,
    ) -> Result<Client, ::redis::RedisError> {
        let mut settings = RedisConnectionInfo::default().set_db(self.db);
        if let Some(user) = &self.username {
            settings = settings.set_username(user);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        self.open(host, port, settings, ca)
    }

    fn open(
        &self,
        host: &str,
        port: u16,
        settings: RedisConnectionInfo,
        ca: Option<Vec<u8>>,
    ) -> Result<Client, ::redis::RedisError> {
        let info = self
            .addr(host, port)
            .into_connection_info()?
            .set_redis_settings(settings);
        if self.tls {
            Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls: None,
                    root_cert: ca,
                },
            )
        } else {
            Client::open(info)
        }
    }

    /// One client per sentinel, to subscribe to its `+switch-master`
    /// announcements (the `redis` crate's Sentinel client only asks).
    pub fn sentinel_clients(
        &self,
        sentinel_password: Option<&str>,
        ca: Option<Vec<u8>>,
    ) -> Result<Vec<Client>, ::redis::RedisError> {
        self.sentinels
            .iter()
            .map(|(host, port)| {
                let mut settings = RedisConnectionInfo::default();
                if let Some(password) = sentinel_password {
                    settings = settings.set_password(password);
                }
                self.open(host, *port, settings, ca.clone())
            })
            .collect()
    }

    fn addr(&self, host: &str, port: u16) -> ConnectionAddr {
        if self.tls {
            ConnectionAddr::TcpTls {
                host: host.to_string(),
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.to_string(), port)
        }
    }

    /// The client that finds the primary through the sentinels. `ca` is the
    /// PEM of a private CA, for both sentinels and data nodes under TLS.
    pub fn client(
        &self,
        sentinel_password: Option<&str>,
        ca: Option<Vec<u8>>,
    ) -> Result<SentinelClient, ::redis::RedisError> {
        let addrs = self
            .sentinels
            .iter()
            .map(|(host, port)| self.addr(host, *port));
        let mut builder =
            SentinelClientBuilder::new(addrs, &self.master, SentinelServerType::Master)?
                .set_client_to_redis_db(self.db);
        if let Some(user) = &self.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &self.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(password) = sentinel_password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        if self.tls {
            let certs = || TlsCertificates {
                client_tls: None,
                root_cert: ca.clone(),
            };
            builder = builder
                .set_client_to_redis_tls_mode(TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(TlsMode::Secure)
                .set_client_to_redis_certificates(certs())
                .set_client_to_sentinel_certificates(certs());
        }
        builder.build()
    }
}

/// A `+switch-master` announcement: `<master> <old-ip> <old-port>
/// <new-ip> <new-port>`. The new primary's host and port, when the
/// message is about `master`.
pub fn parse_switch(payload: &str, master: &str) -> Option<(String, u16)> {
    let parts: Vec<&str> = payload.split_whitespace().collect();
    match parts.as_slice() {
        [name, _, _, host, port] if *name == master => Some((host.to_string(), port.parse().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_announcement_names_the_new_primary_of_our_master_only() {
        assert_eq!(
            parse_switch("hymaster 127.0.0.1 6379 127.0.0.1 6380", "hymaster"),
            Some(("127.0.0.1".to_string(), 6380))
        );
        assert_eq!(
            parse_switch("other 127.0.0.1 6379 127.0.0.1 6380", "hymaster"),
            None
        );
        assert_eq!(parse_switch("hymaster 127.0.0.1 6379", "hymaster"), None);
        assert_eq!(
            parse_switch("hymaster 127.0.0.1 6379 127.0.0.1 x", "hymaster"),
            None
        );
    }

    #[test]
    fn parses_sentinels_master_db_and_the_data_password() {
        let url = SentinelUrl::parse("redis+sentinel://:p%40ss@s1:26379,s2:26380/mymaster/3")
            .expect("valid");
        assert_eq!(
            url,
            SentinelUrl {
                tls: false,
                sentinels: vec![("s1".into(), 26379), ("s2".into(), 26380)],
                master: "mymaster".into(),
                db: 3,
                username: None,
                password: Some("p@ss".into()),
            }
        );
        let tls = SentinelUrl::parse("rediss+sentinel://s1:26379/m").expect("valid");
        assert!(tls.tls);
        assert_eq!(tls.db, 0);
        assert_eq!(tls.password, None);
    }

    #[test]
    fn refuses_what_it_cannot_use_naming_the_part() {
        for (url, part) in [
            ("redis+sentinel://s1/m", "no port"),
            ("redis+sentinel://s1:x/m", "not a port"),
            ("redis+sentinel://s1:26379", "no master name"),
            ("redis+sentinel://s1:26379/", "no master name"),
            ("redis+sentinel://s1:26379/m/x", "not a number"),
            ("redis+sentinel://s1:26379/m/1/2", "too many"),
            ("redis+sentinel://:26379/m", "no host"),
            ("redis://s1:26379/m", "expected redis+sentinel"),
        ] {
            let err = SentinelUrl::parse(url).expect_err(url);
            assert!(err.contains(part), "{url}: {err}");
        }
    }

    #[test]
    fn a_password_never_appears_in_an_error() {
        let err = SentinelUrl::parse("redis+sentinel://:secret@s1:bad/m").expect_err("bad port");
        assert!(!err.contains("secret"), "{err}");
    }
}
