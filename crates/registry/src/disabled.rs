//! Plugins an operator disabled (`POST /admin/plugins/NAME/disable`): their
//! tools vanish from every listing and lookup, the plugin stays loaded (and
//! keeps reloading when its file changes), and `enable` brings them back.
//! The set is the registry's, not a slot's, so it survives hot reloads.

use crate::{Registry, RegistryEvent};
use toolhost_core::error::{Error, Result};

impl Registry {
    /// Disables (`enabled = false`) or enables plugin `name`. Returns whether
    /// that changed anything; listings change at once and subscribers hear
    /// of it like of a reload. An unknown plugin is `NOT_FOUND`.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<bool> {
        let mut slots = self.slots.lock().await;
        if !slots.contains_key(name) {
            return Err(Error::NotFound { kind: "plugin", name: name.to_string() });
        }
        let changed = {
            let mut d = self.disabled.lock().unwrap_or_else(|e| e.into_inner());
            if enabled { d.remove(name) } else { d.insert(name.to_string()) }
        };
        if changed {
            tracing::info!(plugin = %name, enabled, "plugin enabled state changed by an operator");
            let prev = self.incumbents();
            self.publish(&mut slots, &prev, RegistryEvent::default());
        }
        Ok(changed)
    }

    /// Whether an operator disabled plugin `name`.
    pub fn is_disabled(&self, name: &str) -> bool {
        self.disabled.lock().unwrap_or_else(|e| e.into_inner()).contains(name)
    }

    /// The disabled plugin serving `tool`, if `tenant` could see it were it enabled.
    pub fn disabled_owner(&self, tenant: &str, tool: &str) -> Option<String> {
        let cat = self.catalog.load();
        let plugin = cat.hidden.get(tool)?;
        self.tenants.load().allows(tenant, plugin, tool).then(|| plugin.clone())
    }

    /// Replaces the tenants' visibility rules (a config reload).
    pub fn set_tenants(&self, tenants: crate::tenant::Tenants) {
        self.tenants.store(std::sync::Arc::new(tenants));
        // Subscribers re-read their tenant's listing.
        let _ = self.events.send(RegistryEvent::default());
    }
}
