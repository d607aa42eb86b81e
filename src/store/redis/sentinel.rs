//! `redis+sentinel://` URLs: which sentinels to ask, for which primary,
//! with which credentials, and the `redis::sentinel` client built from
//! them. The store asks that client for the current primary when it
//! connects and again whenever the primary may have changed (see
//! `Shared::rediscover` in the parent module).
//!
//! The URL's password is the data password (the one `redis://` URLs carry,
//! and that `--redis-password` inserts); the sentinels' own password is
//! separate ([`super::RedisOptions::sentinel_password`]) because Sentinel
//! deployments usually protect sentinels and data nodes differently.

use ::redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use ::redis::{ConnectionAddr, TlsCertificates, TlsMode};

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

    /// The client that finds the primary through the sentinels. `ca` is the
    /// PEM of a private CA, for both sentinels and data nodes under TLS.
    pub fn client(
        &self,
        sentinel_password: Option<&str>,
        ca: Option<Vec<u8>>,
    ) -> Result<SentinelClient, ::redis::RedisError> {
        let addrs = self.sentinels.iter().map(|(host, port)| {
            if self.tls {
                ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(host.clone(), *port)
            }
        });
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

#[cfg(test)]
mod tests {
    use super::*;

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
