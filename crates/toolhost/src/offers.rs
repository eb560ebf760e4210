//! Prompts, resources and argument completion from 0.2 plugins, per tenant.
//!
//! A tenant sees the offers of the plugins its `plugins` list allows (tool
//! globs apply to tools only). When two plugins offer the same prompt name,
//! the plugin whose name sorts first serves it. Each request runs in a fresh
//! store under the plugin's limits and timeout, like a tool call without the
//! executor's retry, cache and breaker policies.

use crate::host::{Host, guest_context};
use std::sync::Arc;
use toolhost_core::catalog::{
    Completion, CompletionRef, PromptDescriptor, PromptResult, ResourceContents, ResourceDescriptor,
    ResourceTemplate,
};
use toolhost_core::error::{Error, Result};
use toolhost_core::{DEFAULT_TENANT, ExecutionContext, new_call_id};
use toolhost_registry::Plugin;
use toolhost_runtime::{CallSpec, GuestContext};

fn tenant(ctx: &ExecutionContext) -> &str {
    ctx.tenant_id.as_deref().unwrap_or(DEFAULT_TENANT)
}

fn not_found(kind: &'static str, name: &str) -> Error {
    Error::NotFound { kind, name: toolhost_core::text::preview(name) }
}

impl Host {
    /// Every prompt `tenant` may get, sorted by name.
    pub fn list_prompts(&self, tenant: Option<&str>) -> Vec<PromptDescriptor> {
        let mut seen = std::collections::BTreeMap::new();
        for p in self.registry().plugins_for(tenant.unwrap_or(DEFAULT_TENANT)) {
            for d in &p.prompts {
                seen.entry(d.name.clone()).or_insert_with(|| d.clone());
            }
        }
        seen.into_values().collect()
    }

    /// Every resource template `tenant` may read through.
    pub fn list_resource_templates(&self, tenant: Option<&str>) -> Vec<ResourceTemplate> {
        let plugins = self.registry().plugins_for(tenant.unwrap_or(DEFAULT_TENANT));
        plugins.iter().flat_map(|p| p.templates.iter().cloned()).collect()
    }

    /// Prompt `name` filled in with `args`.
    pub async fn get_prompt(
        &self,
        ctx: &ExecutionContext,
        name: &str,
        args: &[(String, String)],
    ) -> Result<PromptResult> {
        let plugin = self
            .registry()
            .plugins_for(tenant(ctx))
            .into_iter()
            .find(|p| p.prompts.iter().any(|d| d.name == name))
            .ok_or_else(|| not_found("prompt", name))?;
        let (spec, gctx) = self.offer_spec(&plugin, ctx, name);
        self.runtime().get_prompt(&plugin.code, spec.spec(), name, args, gctx).await
    }

    /// Every resource the tenant's plugins list now. A plugin that fails to
    /// list is left out (and logged): one broken plugin hides nothing else.
    pub async fn list_resources(&self, ctx: &ExecutionContext) -> Vec<ResourceDescriptor> {
        let mut out = vec![];
        for plugin in self.resource_plugins(ctx) {
            match self.resources_of(&plugin, ctx).await {
                Ok(r) => out.extend(r),
                Err(e) => tracing::warn!(plugin = %plugin.name, error = %e, "resources/list failed"),
            }
        }
        out
    }

    /// Reads the resource at `uri`: from the plugin whose template matches
    /// it, else the one that lists it.
    pub async fn read_resource(&self, ctx: &ExecutionContext, uri: &str) -> Result<Vec<ResourceContents>> {
        let plugin = self.resource_owner(ctx, uri).await?;
        let (spec, gctx) = self.offer_spec(&plugin, ctx, uri);
        self.runtime().read_resource(&plugin.code, spec.spec(), uri, gctx).await
    }

    /// Tells the plugin serving `uri` that a client subscribed (`on`) or left.
    pub async fn subscribe_resource(&self, ctx: &ExecutionContext, uri: &str, on: bool) -> Result<()> {
        let plugin = self.resource_owner(ctx, uri).await?;
        let (spec, gctx) = self.offer_spec(&plugin, ctx, uri);
        self.runtime().subscribe(&plugin.code, spec.spec(), uri, on, gctx).await
    }

    /// Suggestions for `argument` of a prompt or resource template.
    pub async fn complete(
        &self,
        ctx: &ExecutionContext,
        target: &CompletionRef,
        argument: &str,
        value: &str,
        context: &[(String, String)],
    ) -> Result<Completion> {
        let offers = |p: &Plugin| match target {
            CompletionRef::Prompt { name } => p.prompts.iter().any(|d| &d.name == name),
            CompletionRef::Resource { uri } => p.templates.iter().any(|t| &t.uri_template == uri),
        };
        let (kind, name) = match target {
            CompletionRef::Prompt { name } => ("prompt", name),
            CompletionRef::Resource { uri } => ("resource", uri),
        };
        let plugin = self
            .registry()
            .plugins_for(tenant(ctx))
            .into_iter()
            .find(|p| offers(p))
            .ok_or_else(|| not_found(kind, name))?;
        if !plugin.capabilities.completion {
            return Ok(Completion::default());
        }
        let (spec, gctx) = self.offer_spec(&plugin, ctx, name);
        self.runtime().complete(&plugin.code, spec.spec(), target, argument, value, context, gctx).await
    }

    fn resource_plugins(&self, ctx: &ExecutionContext) -> Vec<Arc<Plugin>> {
        let plugins = self.registry().plugins_for(tenant(ctx));
        plugins.into_iter().filter(|p| p.capabilities.resources).collect()
    }

    async fn resources_of(&self, plugin: &Plugin, ctx: &ExecutionContext) -> Result<Vec<ResourceDescriptor>> {
        let (spec, gctx) = self.offer_spec(plugin, ctx, "resources/list");
        self.runtime().list_resources(&plugin.code, spec.spec(), gctx).await
    }

    async fn resource_owner(&self, ctx: &ExecutionContext, uri: &str) -> Result<Arc<Plugin>> {
        let plugins = self.resource_plugins(ctx);
        if let Some(p) = plugins.iter().find(|p| p.templates.iter().any(|t| t.matches(uri))) {
            return Ok(p.clone());
        }
        for p in plugins {
            if self.resources_of(&p, ctx).await.is_ok_and(|r| r.iter().any(|r| r.uri == uri)) {
                return Ok(p);
            }
        }
        Err(not_found("resource", uri))
    }

    fn offer_spec<'a>(
        &self,
        plugin: &'a Plugin,
        ctx: &'a ExecutionContext,
        subject: &'a str,
    ) -> (OfferSpec<'a>, GuestContext) {
        let budget = plugin.timeout_override.unwrap_or_else(|| plugin.limits.timeout());
        let call_id = new_call_id();
        let gctx = guest_context(ctx, &call_id, budget, 1);
        let spec = OfferSpec {
            plugin,
            tenant: tenant(ctx),
            subject,
            call_id,
            budget,
            updates: self.resource_sender(),
        };
        (spec, gctx)
    }
}

/// What a [`CallSpec`] of one offer request borrows.
struct OfferSpec<'a> {
    plugin: &'a Plugin,
    tenant: &'a str,
    subject: &'a str,
    call_id: String,
    budget: std::time::Duration,
    updates: toolhost_core::catalog::ResourceUpdates,
}

impl OfferSpec<'_> {
    fn spec(&self) -> CallSpec<'_> {
        CallSpec {
            tenant: self.tenant,
            plugin: &self.plugin.name,
            tool: self.subject,
            call_id: &self.call_id,
            limits: &self.plugin.limits,
            grants: &self.plugin.grants,
            config: &self.plugin.config,
            events: None,
            cancel: None,
            budget: self.budget,
            warm: None,
            outbound_headers: &[],
            interact: None,
            resource_updates: Some(&self.updates),
        }
    }
}
