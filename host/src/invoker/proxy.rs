//! The HTTP client of the action proxy in a container: `POST /init` and `POST /run`.
//!
//! hyper's HTTP/1.1 connections, kept open between activations (a warm invoke costs no
//! new connection); one connection per in-flight request, so a container that runs
//! several activations at once gets several connections.

use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, client::conn::http1::SendRequest, Request};
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use thiserror::Error;
use tokio::net::TcpStream;

#[derive(Debug, Error)]
pub enum ProxyError {
    #[error("cannot connect to the action proxy at {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("the connection to the action proxy failed: {0}")]
    Http(#[from] hyper::Error),
}

pub struct ProxyClient {
    address: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl ProxyClient {
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, ProxyError> {
        loop {
            let reused = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match reused {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Ok(sender);
                    }
                }
                None => break,
            }
        }
        let stream =
            TcpStream::connect(&self.address)
                .await
                .map_err(|source| ProxyError::Connect {
                    address: self.address.clone(),
                    source,
                })?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the container goes away or the sender is dropped.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// POSTs `body` (JSON) to `path`; answers the status and the body.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Result<(u16, Bytes), ProxyError> {
        let mut sender = self.connection().await?;
        let request = Request::post(path)
            .header("host", &self.address)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a request of constant parts");
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sender);
        Ok((status, body))
    }
}
