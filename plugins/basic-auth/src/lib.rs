//! # basic-auth: an Authenticator plugin for whisk with OpenWhisk's `uuid:key` credentials
//!
//! OpenWhisk clients (`wsk`, the `openwhisk` npm package) send an API key `uuid:key` as
//! HTTP Basic credentials. This plugin checks them against a credentials file in which
//! each key is stored only as a salted SHA-256 hash and compared in constant time.
//!
//! Answers, so that several authenticators can share the Basic scheme:
//! - a scheme other than `Basic` (any case), or a uuid the file does not have: not mine,
//!   the next authenticator in the chain is asked;
//! - credentials that are not base64 of `uuid:key`: rejected;
//! - a known uuid with the wrong key: rejected;
//! - otherwise: authenticated as the entry's subject, in its namespace, with its rights;
//!   the identity's `namespace_uuid` is the uuid and its `api_key` is `uuid:key`, so an
//!   action can call back with the same key (`__OW_API_KEY`), as in OpenWhisk.
//!
//! The file is read once, when the host builds the authenticator: restart the host after
//! adding keys. Its format and the `whisk-basic-auth` tool that adds keys are described in
//! `README.md`; `config/guest-auth.toml` holds OpenWhisk's well-known guest key.
//!
//! Config (`[plugins.basic-auth]`; an unknown key is an error):
//! - `credentials_file` (required): the credentials file; a relative path is relative to
//!   the host process's working directory;
//! - `realm` (default `"whisk"`): the realm of the `WWW-Authenticate: Basic` challenge.

pub mod credentials;
pub mod key_hash;
pub mod secret;

use base64::{
    alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use credentials::Credential;
use serde::Deserialize;
use std::{collections::HashMap, future::Future, path::PathBuf};
use whisk_spi::{
    abi::AuthenticatorBox, AuthMechanism, AuthOutcome, AuthRequest, Authenticator, Identity,
    IdentityLimits, KeyValue, Plugin, PluginConfig, PluginError, SpiKind,
};

/// The plugin's table in the host config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub credentials_file: PathBuf,
    #[serde(default = "default_realm")]
    pub realm: String,
}

fn default_realm() -> String {
    "whisk".to_string()
}

/// The plugin: provides the Authenticator SPI.
pub struct BasicAuthPlugin;

impl Plugin for BasicAuthPlugin {
    const PROVIDES: &'static [SpiKind] = &[SpiKind::AUTHENTICATOR];
    const DESCRIPTION: &'static str =
        "OpenWhisk uuid:key Basic credentials from a file of salted SHA-256 hashes";

    fn authenticator(config: PluginConfig) -> Result<AuthenticatorBox, PluginError> {
        Ok(whisk_spi::into_authenticator(BasicAuthenticator::new(
            config.parse()?,
        )?))
    }
}

whisk_spi::export_plugin!(BasicAuthPlugin);

/// Standard base64; padding optional, since some clients leave it out.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The credentials of one file, by uuid.
pub struct BasicAuthenticator {
    realm: String,
    by_uuid: HashMap<String, Credential>,
}

impl BasicAuthenticator {
    /// Reads the credentials file; any problem in it refuses the plugin, with the file,
    /// line and column, and the key at fault.
    pub fn new(config: Config) -> Result<Self, PluginError> {
        let file = std::path::absolute(&config.credentials_file)
            .unwrap_or_else(|_| config.credentials_file.clone());
        let credentials = credentials::load(&file).map_err(PluginError::invalid_config)?;
        if credentials.is_empty() {
            tracing::warn!(file = %file.display(), "the credentials file has no credential: every Basic request will be passed on");
        } else {
            tracing::info!(file = %file.display(), count = credentials.len(), "loaded Basic credentials");
        }
        Ok(Self::from_credentials(config.realm, credentials))
    }

    /// An authenticator over `credentials`, already checked (uuids unique).
    pub fn from_credentials(realm: String, credentials: Vec<Credential>) -> Self {
        let by_uuid = credentials
            .into_iter()
            .map(|c| (c.uuid.clone(), c))
            .collect();
        Self { realm, by_uuid }
    }

    fn check(&self, request: &AuthRequest) -> AuthOutcome {
        if !request.scheme.eq_ignore_ascii_case("Basic") {
            return AuthOutcome::not_mine();
        }
        let Some((uuid, key)) = BASE64
            .decode(request.credentials.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                let (uuid, key) = text.split_once(':')?;
                Some((uuid.to_string(), key.to_string()))
            })
        else {
            return AuthOutcome::rejected("malformed Basic credentials");
        };
        // Another Basic authenticator later in the chain may know this uuid.
        let Some(credential) = self.by_uuid.get(&uuid) else {
            return AuthOutcome::not_mine();
        };
        if !credential.key_hash.matches(key.as_bytes()) {
            return AuthOutcome::rejected(format!("wrong key for uuid {uuid}"));
        }
        AuthOutcome::authenticated(Identity {
            subject: credential.subject.as_str().into(),
            namespace: credential.namespace.as_str().into(),
            namespace_uuid: credential.uuid.as_str().into(),
            rights: credential
                .rights
                .iter()
                .map(|r| r.as_str().into())
                .collect(),
            limits: IdentityLimits::default(),
            api_key: Some(format!("{uuid}:{key}").into()).into(),
        })
    }
}

impl Authenticator for BasicAuthenticator {
    fn authenticate(
        &self,
        request: AuthRequest,
    ) -> impl Future<Output = Result<AuthOutcome, PluginError>> + Send {
        // One hash over a short key: cheap enough to answer on the caller's thread.
        std::future::ready(Ok(self.check(&request)))
    }

    fn mechanism(&self) -> Result<AuthMechanism, PluginError> {
        Ok(AuthMechanism {
            scheme: "Basic".into(),
            parameters: vec![KeyValue::new("realm", self.realm.as_str())].into(),
        })
    }
}

#[cfg(test)]
mod tests;
