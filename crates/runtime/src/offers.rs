//! What a 0.2 plugin offers besides tools: prompts, resources and argument
//! completion, each asked in a fresh store under the plugin's limits (the
//! `spec.tool` of each names what is asked, for error messages).

use crate::contract::{Op, Raw};
use crate::{CallSpec, GuestContext, PluginCode, Runtime, convert};
use toolhost_core::catalog as cat;
use toolhost_core::error::Result;

impl Runtime {
    /// The plugin's prompts (`prompts.list-prompts`).
    pub async fn list_prompts(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
    ) -> Result<Vec<cat::PromptDescriptor>> {
        self.op(code, spec, Op::ListPrompts, |raw, _| match raw {
            Raw::Prompts(p) => Ok(p.into_iter().map(convert::prompt_descriptor).collect()),
            _ => unreachable!("list-prompts returns prompts"),
        })
        .await
    }

    /// Prompt `name` filled in with `args`.
    pub async fn get_prompt(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
        name: &str,
        args: &[(String, String)],
        ctx: GuestContext,
    ) -> Result<cat::PromptResult> {
        self.op(code, spec, Op::GetPrompt { name, args, ctx: ctx.into() }, |raw, subject| match raw {
            Raw::Prompt(r) => r.map(convert::prompt_result).map_err(|e| convert::tool_error(subject, e)),
            _ => unreachable!("get-prompt returns a prompt"),
        })
        .await
    }

    /// The resources the plugin lists now.
    pub async fn list_resources(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
        ctx: GuestContext,
    ) -> Result<Vec<cat::ResourceDescriptor>> {
        self.op(code, spec, Op::ListResources { ctx: ctx.into() }, |raw, subject| match raw {
            Raw::Resources(r) => r
                .map(|r| r.into_iter().map(convert::resource).collect())
                .map_err(|e| convert::tool_error(subject, e)),
            _ => unreachable!("list-resources returns resources"),
        })
        .await
    }

    /// The plugin's resource templates.
    pub async fn list_templates(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
    ) -> Result<Vec<cat::ResourceTemplate>> {
        self.op(code, spec, Op::ListTemplates, |raw, _| match raw {
            Raw::Templates(t) => Ok(t.into_iter().map(convert::template).collect()),
            _ => unreachable!("list-templates returns templates"),
        })
        .await
    }

    /// Reads the resource at `uri`.
    pub async fn read_resource(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
        uri: &str,
        ctx: GuestContext,
    ) -> Result<Vec<cat::ResourceContents>> {
        self.op(code, spec, Op::ReadResource { uri, ctx: ctx.into() }, |raw, subject| match raw {
            Raw::Contents(r) => r
                .map(|c| c.into_iter().map(convert::contents).collect())
                .map_err(|e| convert::tool_error(subject, e)),
            _ => unreachable!("read-resource returns contents"),
        })
        .await
    }

    /// Tells the plugin a client subscribed to `uri` (`on`) or its last one left.
    pub async fn subscribe(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
        uri: &str,
        on: bool,
        ctx: GuestContext,
    ) -> Result<()> {
        self.op(code, spec, Op::Subscribe { uri, on, ctx: ctx.into() }, |raw, subject| match raw {
            Raw::Done(r) => r.map_err(|e| convert::tool_error(subject, e)),
            _ => unreachable!("subscribe returns nothing"),
        })
        .await
    }

    /// Suggestions for `argument` of `target`, starting from `value`.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
        target: &cat::CompletionRef,
        argument: &str,
        value: &str,
        context: &[(String, String)],
        ctx: GuestContext,
    ) -> Result<cat::Completion> {
        let op = Op::Complete {
            target: convert::completion_ref(target),
            argument,
            value,
            context,
            ctx: ctx.into(),
        };
        self.op(code, spec, op, |raw, subject| match raw {
            Raw::Completion(r) => r.map(convert::completion).map_err(|e| convert::tool_error(subject, e)),
            _ => unreachable!("complete returns a completion"),
        })
        .await
    }
}
