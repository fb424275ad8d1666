//! Signing keys: every key option of the node (`--private-key`, and one per contract role)
//! takes the same kinds of value, read here.
//!
//! - `0x<64 hex digits>` (or without `0x`): the key itself. For development only: a key on a
//!   command line shows in the process list and the shell's history.
//! - `keystore:<path>`: a Web3 Secret Storage file (the encrypted JSON keystore that geth,
//!   `cast wallet` and alloy write). Its password comes from the file named by
//!   `keystore:<path>,password-file=<path>`, else from the node's `--keystore-password-file`,
//!   else from a prompt when standard input is a terminal (never in CI or under a service
//!   manager). The first line of a password file is the password.
//!
//! Keys and passwords are held as [`Secret`]s, and no error message quotes one. A wrong
//! password is [`KeyError::WrongPassword`].

use std::{
    fmt,
    io::IsTerminal,
    path::{Path, PathBuf},
    str::FromStr,
};

use alloy::signers::local::{LocalSignerError, PrivateKeySigner};
use propledger_net::Secret;

/// Failures loading a key. None of them quotes the key or a password.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A hex key that is not 32 bytes of hex.
    #[error("{option}: the key is not 32 bytes of hex (or keystore:<path>)")]
    BadHex {
        /// The option that held it.
        option: String,
    },
    /// A `keystore:` value that cannot be understood.
    #[error("{option}: {reason}")]
    BadSpec {
        /// The option.
        option: String,
        /// What is wrong.
        reason: String,
    },
    /// A keystore or password file could not be read.
    #[error("{option}: cannot read {path}: {source}")]
    Read {
        /// The option.
        option: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The password does not open the keystore.
    #[error("{option}: wrong password for the keystore {path}")]
    WrongPassword {
        /// The option.
        option: String,
        /// The keystore.
        path: PathBuf,
    },
    /// The keystore is not a Web3 Secret Storage file this build reads.
    #[error("{option}: {path} is not a usable keystore: {reason}")]
    BadKeystore {
        /// The option.
        option: String,
        /// The keystore.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No password was given and none can be asked for.
    #[error(
        "{option}: no password for the keystore {path}: pass --keystore-password-file (standard input is not a terminal, so there is no prompt)"
    )]
    NoPassword {
        /// The option.
        option: String,
        /// The keystore.
        path: PathBuf,
    },
}

/// Result alias of this module.
pub type Result<T, E = KeyError> = std::result::Result<T, E>;

/// Where a key comes from, as parsed from an option's value.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The key's hex digits.
    Hex(Secret<String>),
    /// A Web3 Secret Storage file, and optionally the file holding its password.
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// Its password file, when given with the key.
        password_file: Option<PathBuf>,
    },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hex(_) => f.write_str("Hex(***)"),
            Self::Keystore {
                path,
                password_file,
            } => f
                .debug_struct("Keystore")
                .field("path", path)
                .field("password_file", password_file)
                .finish(),
        }
    }
}

impl KeySource {
    /// Parses an option's value (`option` names it in errors).
    pub fn parse(option: &str, value: &str) -> Result<Self> {
        let Some(spec) = value.strip_prefix("keystore:") else {
            return Ok(Self::Hex(Secret::from(value.trim())));
        };
        let (path, password_file) = match spec.split_once(",password-file=") {
            Some((path, file)) => (path, Some(PathBuf::from(file))),
            None => (spec, None),
        };
        if path.is_empty()
            || password_file
                .as_ref()
                .is_some_and(|f| f.as_os_str().is_empty())
        {
            return Err(KeyError::BadSpec {
                option: option.to_owned(),
                reason: "expected keystore:<path> or keystore:<path>,password-file=<path>"
                    .to_owned(),
            });
        }
        Ok(Self::Keystore {
            path: PathBuf::from(path),
            password_file,
        })
    }
}

impl FromStr for KeySource {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse("key", s)
    }
}

/// A loaded key and the secrets that came with it, for a log redactor to learn.
#[derive(Debug)]
pub struct LoadedKey {
    /// The signer.
    pub signer: PrivateKeySigner,
    /// The key's hex and the password that opened it, if any.
    pub secrets: Vec<Secret<String>>,
}

/// Reads keys, with the node-wide password options.
#[derive(Clone, Debug, Default)]
pub struct KeyLoader {
    /// The password file for keystores that name none of their own
    /// (`--keystore-password-file`).
    pub password_file: Option<PathBuf>,
    /// Whether a keystore without a password file may prompt on the terminal (only when
    /// standard input is one).
    pub prompt: bool,
}

impl KeyLoader {
    /// A loader that prompts when standard input is a terminal.
    pub fn new(password_file: Option<PathBuf>) -> Self {
        Self {
            password_file,
            prompt: std::io::stdin().is_terminal(),
        }
    }

    /// Loads the key of `option` from `source`. Decrypting a keystore takes a moment of CPU
    /// (that is its point); call it off the async runtime's worker threads.
    pub fn load(&self, option: &str, source: &KeySource) -> Result<LoadedKey> {
        match source {
            KeySource::Hex(hex) => {
                let signer: PrivateKeySigner =
                    hex.expose().parse().map_err(|_| KeyError::BadHex {
                        option: option.to_owned(),
                    })?;
                Ok(LoadedKey {
                    secrets: key_secrets(&signer),
                    signer,
                })
            }
            KeySource::Keystore {
                path,
                password_file,
            } => {
                // Unreadable before any password is asked for.
                std::fs::File::open(path).map_err(|source| KeyError::Read {
                    option: option.to_owned(),
                    path: path.clone(),
                    source,
                })?;
                let password = self.password(option, path, password_file.as_deref())?;
                let signer = PrivateKeySigner::decrypt_keystore(path, password.expose())
                    .map_err(|e| keystore_error(option, path, e))?;
                let mut secrets = key_secrets(&signer);
                secrets.push(password);
                Ok(LoadedKey { signer, secrets })
            }
        }
    }

    fn password(
        &self,
        option: &str,
        keystore: &Path,
        own_file: Option<&Path>,
    ) -> Result<Secret<String>> {
        if let Some(file) = own_file.or(self.password_file.as_deref()) {
            return read_password_file(option, file);
        }
        if !self.prompt {
            return Err(KeyError::NoPassword {
                option: option.to_owned(),
                path: keystore.to_path_buf(),
            });
        }
        rpassword::prompt_password(format!("password for {} ({option}): ", keystore.display()))
            .map(Secret::from)
            .map_err(|source| KeyError::Read {
                option: option.to_owned(),
                path: PathBuf::from("/dev/tty"),
                source,
            })
    }
}

/// The first line of a password file, without its line ending.
fn read_password_file(option: &str, path: &Path) -> Result<Secret<String>> {
    let text = Secret::from(
        std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            option: option.to_owned(),
            path: path.to_path_buf(),
            source,
        })?,
    );
    let first = text.expose().lines().next().unwrap_or_default();
    Ok(Secret::from(first))
}

/// The key's hex, with and without `0x`, for redaction.
fn key_secrets(signer: &PrivateKeySigner) -> Vec<Secret<String>> {
    let hex = Secret::from(alloy::hex::encode(signer.to_bytes()));
    let prefixed = Secret::from(format!("0x{}", hex.expose()));
    vec![prefixed, hex]
}

fn keystore_error(option: &str, path: &Path, e: LocalSignerError) -> KeyError {
    let option = option.to_owned();
    let path = path.to_path_buf();
    match e {
        LocalSignerError::EthKeystoreError(eth_keystore::KeystoreError::MacMismatch) => {
            KeyError::WrongPassword { option, path }
        }
        other => KeyError::BadKeystore {
            option,
            path,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_without_showing_keys() {
        let hex = KeySource::parse(
            "--private-key",
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        )
        .expect("hex");
        assert_eq!(format!("{hex:?}"), "Hex(***)");
        assert_eq!(
            KeySource::parse("--private-key", "keystore:/k/admin.json").expect("keystore"),
            KeySource::Keystore {
                path: "/k/admin.json".into(),
                password_file: None
            }
        );
        assert_eq!(
            KeySource::parse(
                "--private-key",
                "keystore:/k/admin.json,password-file=/run/pw"
            )
            .expect("keystore"),
            KeySource::Keystore {
                path: "/k/admin.json".into(),
                password_file: Some("/run/pw".into())
            }
        );
        assert!(KeySource::parse("--private-key", "keystore:").is_err());
        let err = KeyLoader::default()
            .load(
                "--private-key",
                &KeySource::parse("--private-key", "0x12zz").expect("parse"),
            )
            .expect_err("bad hex");
        assert!(!err.to_string().contains("12zz"), "{err}");
    }
}
