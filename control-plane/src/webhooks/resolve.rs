//! Receivers' names resolved to public addresses only. A URL's host is
//! checked when the endpoint is registered, but a name can point anywhere
//! and change later: into the cluster's own services or a cloud's metadata
//! address. Under the public policy a delivery connects only to addresses
//! outside private networks, checked when it connects.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::endpoints::is_internal;

/// The addresses of `host` a delivery may connect to: the public ones.
fn public(host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let kept: Vec<SocketAddr> = found.into_iter().filter(|a| !is_internal(a.ip())).collect();
    if kept.is_empty() {
        return Err(format!(
            "`{host}` resolves to no public address; a receiver must be reachable from the internet"
        ));
    }
    Ok(kept)
}

/// A resolver that keeps only public addresses (the system's resolver
/// underneath).
#[derive(Debug, Clone, Copy)]
pub(super) struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = public(&host, found)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn only_public_addresses_are_kept() {
        let addr = |s: &str| SocketAddr::from_str(s).unwrap();
        let mixed = vec![
            addr("10.0.0.7:0"),
            addr("93.184.215.14:0"),
            addr("[fd00::1]:0"),
        ];
        assert_eq!(
            public("hooks.example.com", mixed),
            Ok(vec![addr("93.184.215.14:0")])
        );
        let private = vec![addr("169.254.169.254:0"), addr("127.0.0.1:0")];
        let refused = public("metadata.example.com", private).unwrap_err();
        assert!(refused.contains("no public address"), "{refused}");
    }

    #[tokio::test]
    async fn a_name_for_this_machine_is_refused_when_connecting() {
        let resolved = PublicOnly
            .resolve(Name::from_str("localhost").unwrap())
            .await;
        let refused = resolved.err().unwrap().to_string();
        assert!(
            refused.contains("`localhost` resolves to no public address"),
            "{refused}"
        );
    }
}
