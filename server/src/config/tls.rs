//! `tls_min_version` and `tls_cipher_suites`, read as the Go server reads them: versions "1.0"
//! to "1.3" (or `VersionTLS12`...), cipher suites by their Go (IANA) names, an unknown name a
//! start-up error. rustls never speaks TLS below 1.2 and implements only the ECDHE AEAD suites,
//! so a lower minimum is raised to 1.2 with a warning and a Go suite rustls lacks is an error
//! naming the ones it has. As in Go, the suites restrict TLS 1.2 only. Pure.

use super::ConfigError;

/// The TLS 1.2 suites rustls implements (ring provider), by their Go names.
pub const RUSTLS_TLS12_SUITES: [&str; 6] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// Go's other names: TLS 1.3 suites (accepted and, as in Go, not configurable) and the TLS 1.2
/// suites Go accepts but rustls does not implement.
const GO_TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];
const GO_ONLY_SUITES: [&str; 8] = [
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

/// What the HTTPS listener negotiates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Refuse TLS 1.2 (`tls_min_version = "1.3"`).
    pub tls13_only: bool,
    /// The TLS 1.2 suites allowed, Go names from [`RUSTLS_TLS12_SUITES`]; empty: all of them.
    pub tls12_suites: Vec<&'static str>,
}

/// Checks the two keys; the warnings say what rustls does differently from Go.
pub fn resolve(
    min_version: Option<&str>,
    cipher_suites: &[String],
    warnings: &mut Vec<String>,
) -> Result<TlsSettings, ConfigError> {
    let tls13_only = match min_version.map(str::trim).unwrap_or_default() {
        "" | "1.2" | "VersionTLS12" => false,
        "1.3" | "VersionTLS13" => true,
        old @ ("1.0" | "1.1" | "VersionTLS10" | "VersionTLS11") => {
            warnings.push(format!(
                "config key tls_min_version = {old:?}: this server never negotiates TLS below 1.2, so 1.2 is the minimum"
            ));
            false
        }
        other => {
            return Err(ConfigError::Invalid {
                key: "tls_min_version",
                message: format!(
                    "invalid TLS version {other:?}: valid values are 1.0, 1.1, 1.2, 1.3, VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13"
                ),
            });
        }
    };
    let mut tls12_suites = Vec::new();
    for name in cipher_suites
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        if let Some(known) = RUSTLS_TLS12_SUITES.iter().find(|s| **s == name) {
            tls12_suites.push(*known);
        } else if !GO_TLS13_SUITES.contains(&name) {
            let why = if GO_ONLY_SUITES.contains(&name) {
                "is not implemented by this server's TLS library (rustls)"
            } else {
                "is unknown"
            };
            return Err(ConfigError::Invalid {
                key: "tls_cipher_suites",
                message: format!(
                    "cipher suite {name:?} {why}; the TLS 1.2 suites available are {}",
                    RUSTLS_TLS12_SUITES.join(", ")
                ),
            });
        }
    }
    Ok(TlsSettings {
        tls13_only,
        tls12_suites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_versions_and_suite_names_are_read_and_bad_ones_named() {
        let mut warnings = Vec::new();
        let s = resolve(
            Some("1.3"),
            &[
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                "TLS_AES_128_GCM_SHA256".into(),
                " ".into(),
            ],
            &mut warnings,
        )
        .unwrap();
        assert!(s.tls13_only);
        assert_eq!(s.tls12_suites, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
        assert!(warnings.is_empty());
        assert!(!resolve(Some("1.0"), &[], &mut warnings).unwrap().tls13_only);
        assert_eq!(warnings.len(), 1);
        let err = resolve(Some("1.4"), &[], &mut warnings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid TLS version \"1.4\""), "{err}");
        let err = resolve(None, &["TLS_FOO".into()], &mut warnings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"TLS_FOO\" is unknown"), "{err}");
        let err = resolve(
            None,
            &["TLS_RSA_WITH_AES_128_CBC_SHA".into()],
            &mut warnings,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("not implemented")
                && err.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "{err}"
        );
    }
}
