//! A linked plugin of either contract version, and the operations each can run.
//!
//! A component exporting `toolhost:plugin/tool@0.2.0` is a 0.2 plugin: its
//! optional `prompts`, `resources` and `completion` exports are found one by
//! one. Anything else is linked against the frozen 0.1 world (tools only).

use crate::bindings::{self, completion, prompts, resources, tool, upgrade, v1};
use crate::state::StoreState;
use wasmtime::component::{Component, Instance, InstancePre, Linker};
use wasmtime::{Store, format_err};

/// The export that makes a component a 0.2 plugin.
pub(crate) const TOOL_EXPORT_V2: &str = "toolhost:plugin/tool@0.2.0";
/// The export of a 0.1 plugin.
pub(crate) const TOOL_EXPORT_V1: &str = "toolhost:plugin/tool@0.1.0";

/// Which contract a plugin was built against, and what it offers beyond tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// `"0.1"` or `"0.2"`.
    pub contract: &'static str,
    /// Exports `prompts`.
    pub prompts: bool,
    /// Exports `resources`.
    pub resources: bool,
    /// Exports `completion`.
    pub completion: bool,
}

/// A plugin linked and ready to instantiate.
pub(crate) enum Linked {
    V1(v1::PluginPre<StoreState>),
    V2(Box<V2>),
}

pub(crate) struct V2 {
    pre: InstancePre<StoreState>,
    tool: tool::GuestIndices,
    prompts: Option<prompts::GuestIndices>,
    resources: Option<resources::GuestIndices>,
    completion: Option<completion::GuestIndices>,
}

/// A live instance. A 0.2 instance's `tool` export is looked up once, when it
/// is instantiated (a warm instance reuses it); its optional exports are
/// looked up by the operation that needs them.
pub(crate) enum Live {
    V1(v1::Plugin),
    V2(Instance, tool::Guest),
}

/// One thing to ask a plugin.
pub(crate) enum Op<'a> {
    Describe,
    Call {
        name: &'a str,
        args: &'a str,
        ctx: bindings::CallContext,
    },
    ListPrompts,
    GetPrompt {
        name: &'a str,
        args: &'a [(String, String)],
        ctx: bindings::CallContext,
    },
    ListResources {
        ctx: bindings::CallContext,
    },
    ListTemplates,
    ReadResource {
        uri: &'a str,
        ctx: bindings::CallContext,
    },
    Subscribe {
        uri: &'a str,
        on: bool,
        ctx: bindings::CallContext,
    },
    Complete {
        target: bindings::CompletionRef,
        argument: &'a str,
        value: &'a str,
        context: &'a [(String, String)],
        ctx: bindings::CallContext,
    },
}

impl Op<'_> {
    /// Only a tool call may reuse a warm instance.
    pub(crate) fn is_call(&self) -> bool {
        matches!(self, Op::Call { .. })
    }
}

type GuestResult<T> = Result<T, bindings::ToolError>;

/// What an operation returned, as the guest said it.
pub(crate) enum Raw {
    Descriptors(Vec<bindings::ToolDescriptor>, bool),
    Call(GuestResult<bindings::ToolOutput>),
    Prompts(Vec<bindings::PromptDescriptor>),
    Prompt(GuestResult<bindings::PromptResult>),
    Resources(GuestResult<Vec<bindings::ResourceDescriptor>>),
    Templates(Vec<bindings::ResourceTemplate>),
    Contents(GuestResult<Vec<bindings::ResourceContents>>),
    Done(GuestResult<()>),
    Completion(GuestResult<bindings::Completion>),
}

impl Linked {
    /// Links `component` against the version it exports.
    pub(crate) fn link(linker: &Linker<StoreState>, component: &Component) -> Result<Linked, LinkError> {
        let pre = linker.instantiate_pre(component).map_err(|e| LinkError::Imports(format!("{e:#}")))?;
        let engine = component.engine();
        let is_v2 = component.component_type().exports(engine).any(|(n, _)| n == TOOL_EXPORT_V2);
        if !is_v2 {
            return v1::PluginPre::new(pre).map(Linked::V1).map_err(|e| LinkError::Exports(e.to_string()));
        }
        let tool = tool::GuestIndices::new(&pre).map_err(|e| LinkError::Exports(e.to_string()))?;
        Ok(Linked::V2(Box::new(V2 {
            tool,
            prompts: prompts::GuestIndices::new(&pre).ok(),
            resources: resources::GuestIndices::new(&pre).ok(),
            completion: completion::GuestIndices::new(&pre).ok(),
            pre,
        })))
    }

    pub(crate) fn capabilities(&self) -> Capabilities {
        match self {
            Linked::V1(_) => Capabilities { contract: "0.1", ..Default::default() },
            Linked::V2(v) => Capabilities {
                contract: "0.2",
                prompts: v.prompts.is_some(),
                resources: v.resources.is_some(),
                completion: v.completion.is_some(),
            },
        }
    }

    pub(crate) async fn instantiate(&self, store: &mut Store<StoreState>) -> wasmtime::Result<Live> {
        Ok(match self {
            Linked::V1(pre) => Live::V1(pre.instantiate_async(store).await?),
            Linked::V2(v) => {
                let instance = v.pre.instantiate_async(&mut *store).await?;
                let tool = v.tool.load(&mut *store, &instance)?;
                Live::V2(instance, tool)
            }
        })
    }

    /// Runs `op` on `live` (an instance of this plugin).
    pub(crate) async fn run(
        &self,
        store: &mut Store<StoreState>,
        live: &Live,
        op: Op<'_>,
    ) -> wasmtime::Result<Raw> {
        match (self, live) {
            (Linked::V1(_), Live::V1(p)) => run_v1(store, p, op).await,
            (Linked::V2(v), Live::V2(i, t)) => v.run(store, i, t, op).await,
            _ => Err(format_err!("instance of another contract version")),
        }
    }
}

async fn run_v1(store: &mut Store<StoreState>, p: &v1::Plugin, op: Op<'_>) -> wasmtime::Result<Raw> {
    let t = p.toolhost_plugin_tool();
    match op {
        Op::Describe => {
            let d = t.call_describe(&mut *store).await?;
            Ok(Raw::Descriptors(d.into_iter().map(upgrade::descriptor).collect(), false))
        }
        Op::Call { name, args, ctx } => {
            let r = t.call_call(&mut *store, name, &args.to_string(), &upgrade::context(ctx)).await?;
            Ok(Raw::Call(r.map(upgrade::output).map_err(upgrade::error)))
        }
        _ => Err(format_err!("a toolhost:plugin@0.1 plugin exports tools only")),
    }
}

impl V2 {
    async fn run(
        &self,
        store: &mut Store<StoreState>,
        i: &Instance,
        t: &tool::Guest,
        op: Op<'_>,
    ) -> wasmtime::Result<Raw> {
        let missing = |what: &str| format_err!("the plugin does not export {what}");
        match op {
            Op::Describe => Ok(Raw::Descriptors(t.call_describe(&mut *store).await?, true)),
            Op::Call { name, args, ctx } => {
                Ok(Raw::Call(t.call_call(&mut *store, name, &args.to_string(), &ctx).await?))
            }
            Op::ListPrompts | Op::GetPrompt { .. } => {
                let p = self.prompts.as_ref().ok_or_else(|| missing("prompts"))?.load(&mut *store, i)?;
                Ok(match op {
                    Op::GetPrompt { name, args, ctx } => {
                        Raw::Prompt(p.call_get_prompt(&mut *store, name, args, &ctx).await?)
                    }
                    _ => Raw::Prompts(p.call_list_prompts(&mut *store).await?),
                })
            }
            Op::Complete { target, argument, value, context, ctx } => {
                let c =
                    self.completion.as_ref().ok_or_else(|| missing("completion"))?.load(&mut *store, i)?;
                Ok(Raw::Completion(
                    c.call_complete(&mut *store, &target, argument, value, context, &ctx).await?,
                ))
            }
            op => self.run_resources(store, i, op).await,
        }
    }

    async fn run_resources(
        &self,
        store: &mut Store<StoreState>,
        i: &Instance,
        op: Op<'_>,
    ) -> wasmtime::Result<Raw> {
        let indices =
            self.resources.as_ref().ok_or_else(|| format_err!("the plugin does not export resources"))?;
        let r = indices.load(&mut *store, i)?;
        Ok(match op {
            Op::ListResources { ctx } => Raw::Resources(r.call_list_resources(&mut *store, &ctx).await?),
            Op::ListTemplates => Raw::Templates(r.call_list_templates(&mut *store).await?),
            Op::ReadResource { uri, ctx } => {
                Raw::Contents(r.call_read_resource(&mut *store, uri, &ctx).await?)
            }
            Op::Subscribe { uri, on: true, ctx } => {
                Raw::Done(r.call_subscribe(&mut *store, uri, &ctx).await?)
            }
            Op::Subscribe { uri, on: false, ctx } => {
                Raw::Done(r.call_unsubscribe(&mut *store, uri, &ctx).await?)
            }
            _ => unreachable!("tool, prompt and completion operations are dispatched above"),
        })
    }
}

/// Why a compiled component could not be linked.
pub(crate) enum LinkError {
    /// Its imports do not match what the host provides.
    Imports(String),
    /// Its exports do not match a contract world.
    Exports(String),
}
