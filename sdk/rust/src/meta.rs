//! Metadata shared by tools, prompts and resources: [`Icon`] and tool [`Annotations`].

use crate::bindings::toolhost::plugin::types as wit;

/// An icon a client may show next to a tool, prompt or resource (the WIT `icon`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Icon {
    /// `https:` or `data:` URI of the image.
    pub src: String,
    /// MIME type, e.g. `image/png` or `image/svg+xml`.
    pub mime_type: Option<String>,
    /// Sizes, e.g. `48x48` or `any`.
    pub sizes: Vec<String>,
}

impl Icon {
    /// An icon at `src` of type `mime_type`, available in `sizes` (may be empty).
    pub fn new(
        src: impl Into<String>,
        mime_type: impl Into<String>,
        sizes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Icon {
            src: src.into(),
            mime_type: Some(mime_type.into()),
            sizes: sizes.into_iter().map(Into::into).collect(),
        }
    }
}

/// Hints about a tool's behaviour (MCP tool annotations; the WIT `annotations`).
///
/// Clients treat them as untrusted hints. The host itself enforces `destructive` when the
/// operator sets `[policy] confirm_destructive = true`. Every hint defaults to `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Annotations {
    /// Does not modify its environment.
    pub read_only: bool,
    /// May perform destructive updates (only meaningful when not read-only).
    pub destructive: bool,
    /// Calling again with the same arguments has no further effect.
    pub idempotent: bool,
    /// Interacts with an open world of external entities (the web, other users, ...).
    pub open_world: bool,
}

impl From<&Icon> for wit::Icon {
    fn from(i: &Icon) -> Self {
        wit::Icon { src: i.src.clone(), mime_type: i.mime_type.clone(), sizes: i.sizes.clone() }
    }
}

impl From<Annotations> for wit::Annotations {
    fn from(a: Annotations) -> Self {
        wit::Annotations {
            read_only: a.read_only,
            destructive: a.destructive,
            idempotent: a.idempotent,
            open_world: a.open_world,
        }
    }
}

/// Converts a list of icons for the WIT side.
pub(crate) fn wit_icons(icons: &[Icon]) -> Vec<wit::Icon> {
    icons.iter().map(Into::into).collect()
}

/// `title` and `icon` builder methods for a type whose `descriptor` field has `title` and
/// `icons` (tools, prompts, resources, resource templates).
macro_rules! display_setters {
    () => {
        /// Sets a human-readable name for user interfaces.
        #[must_use]
        pub fn title(mut self, title: impl Into<String>) -> Self {
            self.descriptor.title = Some(title.into());
            self
        }

        /// Adds an icon: `src` (`https:` or `data:` URI), its MIME type and its sizes
        /// (`["48x48"]`, `["any"]` or none).
        #[must_use]
        pub fn icon(
            mut self,
            src: impl Into<String>,
            mime_type: impl Into<String>,
            sizes: impl IntoIterator<Item = impl Into<String>>,
        ) -> Self {
            self.descriptor.icons.push(crate::Icon::new(src, mime_type, sizes));
            self
        }
    };
}
pub(crate) use display_setters;
