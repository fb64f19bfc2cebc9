//! The ConfigMap holding the server's config.toml, mounted read-only into the pod. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::meta::{Placement, config_map_name, object_meta};
use crate::validate::ValidatedMcpServer;

/// The key of config.toml in the ConfigMap, and so its file name in the mount.
pub const CONFIG_FILE: &str = "config.toml";

pub fn config_map(v: &ValidatedMcpServer) -> ConfigMap {
    ConfigMap {
        metadata: object_meta(v, config_map_name(v), Placement::Own, BTreeMap::new()),
        data: Some(BTreeMap::from([(
            CONFIG_FILE.into(),
            v.config_toml.clone(),
        )])),
        ..Default::default()
    }
}
