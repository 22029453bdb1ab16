//! Configuration: built-in defaults, then the TOML file, then `IDSYNC_*` environment variables,
//! then command-line flags. Nested keys use `__` in variable names (`IDSYNC_SCIM__MAX_COUNT`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Format version of this file; only 1 exists.
    pub version: u32,
    pub listen: String,
    pub data_dir: PathBuf,
    /// The URL clients reach idsync at, when it differs from `http://<listen>` (proxies, TLS).
    pub public_url: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// `process` (survive kill -9) or `power` (also survive power loss: fsync every commit).
    pub durability: String,
    /// Seconds to let in-flight requests finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
    pub scim: ScimSettings,
    /// Connection limits and timeouts of the HTTP listener.
    pub http: server::listener::HttpSettings,
    /// How changes reach targets: concurrency, retries, the safeguard.
    pub sync: sync::SyncSettings,
    /// The web console's sessions.
    pub console: app::administrators::SessionPolicy,
    /// Bindings live in the database. `[[binding]]` tables an older config file still holds are
    /// kept here only so the server can say they are not read (`idsync binding import` takes them).
    #[serde(skip_serializing)]
    pub binding: Vec<toml::Table>,
    /// The file this configuration was read from.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimSettings {
    pub max_body_bytes: usize,
    pub max_filter_length: usize,
    pub max_filter_depth: usize,
    pub default_count: u64,
    pub max_count: u64,
    pub bulk_max_operations: usize,
    pub patch_response_member_limit: u64,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: 1,
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("idsync-data"),
            public_url: None,
            log_format: "text".into(),
            durability: "process".into(),
            shutdown_grace_seconds: 30,
            scim: ScimSettings::default(),
            http: server::listener::HttpSettings::default(),
            sync: sync::SyncSettings::default(),
            console: app::administrators::SessionPolicy::default(),
            binding: Vec::new(),
            file: None,
        }
    }
}

impl Default for ScimSettings {
    fn default() -> Self {
        let d = scim::ScimConfig::default();
        ScimSettings {
            max_body_bytes: d.max_body_bytes,
            max_filter_length: d.filter_limits.max_length,
            max_filter_depth: d.filter_limits.max_depth,
            default_count: d.default_count,
            max_count: d.max_count,
            bulk_max_operations: d.bulk_max_operations,
            patch_response_member_limit: d.patch_response_member_limit,
            rate_limit_per_second: d.rate_limit_per_second,
            rate_limit_burst: d.rate_limit_burst,
        }
    }
}

/// Flags that override everything else.
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<String>,
}

fn overlay_env(table: &mut toml::Table, prefix: &str, vars: &[(String, String)]) -> anyhow::Result<()> {
    for (key, value) in table.iter_mut() {
        let var = format!("{prefix}{}", key.to_ascii_uppercase());
        if let toml::Value::Table(inner) = value {
            overlay_env(inner, &format!("{var}__"), vars)?;
            continue;
        }
        let Some((_, raw)) = vars.iter().find(|(k, _)| *k == var) else {
            continue;
        };
        *value = match value {
            toml::Value::Integer(_) => {
                toml::Value::Integer(raw.parse().with_context(|| format!("{var} must be a whole number, not '{raw}'"))?)
            }
            toml::Value::Boolean(_) => {
                toml::Value::Boolean(raw.parse().with_context(|| format!("{var} must be true or false, not '{raw}'"))?)
            }
            toml::Value::Float(_) => {
                toml::Value::Float(raw.parse().with_context(|| format!("{var} must be a number, not '{raw}'"))?)
            }
            _ => toml::Value::String(raw.clone()),
        };
    }
    Ok(())
}

impl Config {
    /// The file to read: the one named, else `idsync.toml` in the working directory if it exists.
    pub fn locate(file: Option<&Path>) -> Option<PathBuf> {
        file.map(Path::to_path_buf).or_else(|| Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.exists()))
    }

    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut table = toml::Table::try_from(Config::default()).context("default configuration")?;
        // Optional keys have no default to overlay, so name them here.
        table.insert("public_url".into(), toml::Value::String(String::new()));
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
            let from_file: Config =
                toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))?;
            if from_file.version != 1 {
                bail!(
                    "config file {} has version {}; this idsync understands version 1",
                    path.display(),
                    from_file.version
                );
            }
            let file_table: toml::Table = toml::from_str(&text)?;
            merge(&mut table, file_table);
        }
        let vars: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("IDSYNC_")).collect();
        overlay_env(&mut table, "IDSYNC_", &vars)?;
        if table.get("public_url").and_then(toml::Value::as_str) == Some("") {
            table.remove("public_url");
        }
        let mut config: Config = table.try_into().context("configuration from the environment is not valid")?;
        if let Some(l) = overrides.listen {
            config.listen = l;
        }
        if let Some(d) = overrides.data_dir {
            config.data_dir = d;
        }
        if let Some(f) = overrides.log_format {
            config.log_format = f;
        }
        config.file = file.map(Path::to_path_buf);
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be 'text' or 'json', not '{}'", self.log_format);
        }
        self.durability.parse::<store::sqlite::Durability>().map_err(anyhow::Error::msg)?;
        if self.scim.max_count == 0 || self.scim.default_count > self.scim.max_count {
            bail!("scim.max_count must be at least 1 and at least scim.default_count");
        }
        if !(0.0..=1.0).contains(&self.sync.safeguard.max_share) {
            bail!("sync.safeguard.max_share must be between 0 and 1 (0.1 means 10%)");
        }
        if self.http.max_connections == 0 || self.http.max_uri_bytes < 256 || self.http.max_header_bytes < 1024 {
            bail!(
                "http.max_connections must be at least 1, http.max_uri_bytes at least 256, http.max_header_bytes at least 1024"
            );
        }
        if self.sync.concurrency == 0 || self.sync.batch_size == 0 {
            bail!("sync.concurrency and sync.batch_size must be at least 1");
        }
        Ok(())
    }

    pub fn scim(&self) -> scim::ScimConfig {
        let s = &self.scim;
        scim::ScimConfig {
            public_url: self.public_url.clone(),
            max_body_bytes: s.max_body_bytes,
            filter_limits: model::FilterLimits { max_length: s.max_filter_length, max_depth: s.max_filter_depth },
            default_count: s.default_count,
            max_count: s.max_count,
            bulk_max_operations: s.bulk_max_operations,
            patch_response_member_limit: s.patch_response_member_limit,
            rate_limit_per_second: s.rate_limit_per_second,
            rate_limit_burst: s.rate_limit_burst,
            body_read_timeout: std::time::Duration::from_secs(self.http.body_read_timeout_seconds.max(1)),
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("idsync.db")
    }

    /// Where clients reach the server: `public_url` when set, else where the last server to start
    /// listens (`server`, from the store), else the configured listen address.
    pub fn root(&self, server: Option<&str>) -> String {
        self.public_url
            .clone()
            .or_else(|| server.map(String::from))
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

/// The configuration file used when none is named and it exists in the working directory.
pub const DEFAULT_FILE: &str = "idsync.toml";

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_nested_and_top_level_keys() {
        let mut table = toml::Table::try_from(Config::default()).unwrap();
        let vars = vec![
            ("IDSYNC_LISTEN".to_string(), "0.0.0.0:9000".to_string()),
            ("IDSYNC_SCIM__MAX_COUNT".to_string(), "50".to_string()),
        ];
        overlay_env(&mut table, "IDSYNC_", &vars).unwrap();
        let c: Config = table.try_into().unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.scim.max_count, 50);
    }

    #[test]
    fn env_with_wrong_type_is_a_clear_error() {
        let mut table = toml::Table::try_from(Config::default()).unwrap();
        let vars = vec![("IDSYNC_SCIM__MAX_COUNT".to_string(), "many".to_string())];
        let err = overlay_env(&mut table, "IDSYNC_", &vars).unwrap_err().to_string();
        assert!(err.contains("IDSYNC_SCIM__MAX_COUNT"), "{err}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
    }
}
