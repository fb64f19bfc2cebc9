//! TLS towards the collector: the CA bundle of `OTEL_EXPORTER_OTLP_CERTIFICATE`, or no
//! verification at all with `OTEL_EXPORTER_OTLP_INSECURE=true` (testing only). tonic has no
//! switch for the latter, so the insecure gRPC channel brings its own rustls connector.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::settings::Settings;

/// What an `https` gRPC endpoint needs: a verifying TLS config (roots + the CA file), or, when
/// verification is off, a ready channel.
#[derive(Clone)]
pub enum GrpcTls {
    Verified(ClientTlsConfig),
    Unverified(Channel),
}

pub fn grpc_tls(settings: &Settings, ca: Option<&[u8]>) -> Result<Option<GrpcTls>, String> {
    let Some(rest) = settings.endpoint.strip_prefix("https://") else {
        return Ok(None);
    };
    if settings.insecure {
        return unverified_channel(rest).map(|c| Some(GrpcTls::Unverified(c)));
    }
    let mut tls = ClientTlsConfig::new().with_enabled_roots();
    if let Some(pem) = ca {
        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
    }
    Ok(Some(GrpcTls::Verified(tls)))
}

/// A lazy channel to `host:port` whose connector does TLS itself, accepting any certificate.
/// tonic sees a plain `http://` URI so that it does not insist on its own TLS.
fn unverified_channel(authority: &str) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let connect = tower::service_fn(move |uri: http::Uri| {
        let connector = connector.clone();
        async move {
            let host = uri.host().unwrap_or("localhost").to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connect))
}

/// Accepts every server certificate; the handshake signatures are still checked, so the peer
/// must at least hold the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
