//! Hostile WebAssembly binaries built at test time, without a guest toolchain.
//!
//! Every builder returns the bytes of a `.wasm` file. Most are components made
//! from a hand-written core module (WAT) plus the world metadata of
//! `wit/plugin.wit`, encoded with `wit-component`, so each one misbehaves in
//! exactly one way (resilience notes §8 A and B, §9.4).
//!
//! | builder                         | what it is                                                   | host must |
//! |---------------------------------|--------------------------------------------------------------|-----------|
//! | [`random_bytes`]                | 4 KiB of deterministic noise                                 | reject at load (invalid binary) |
//! | [`empty`]                       | zero bytes                                                   | reject at load |
//! | [`truncated`]                   | first half of a valid file                                   | reject at load |
//! | [`core_module`]                 | a valid *core* module                                        | reject at load ("not a component") |
//! | [`wat_text`]                    | WAT text of a valid component, saved as `.wasm`              | reject at load (never parse text) |
//! | [`minimal_plugin`]              | tool `echo`: ok, `value` = args                              | load and run it |
//! | [`describe_tools`]              | tools with the given names; call → ok `{}`                   | load, or reject duplicates across plugins |
//! | [`describe_bad_name`]           | one tool with the given (bad) name                           | reject at registration |
//! | [`describe_bad_list`]           | `describe` returns a list running past the end of memory     | fail the load (invalid output), no crash |
//! | [`huge_table`]                  | a core table of 10,000,000 funcrefs                          | refuse instantiation (table limit) |
//! | [`huge_memory`]                 | initial memory of 65,536 pages (4 GiB)                       | refuse instantiation (memory limit) |
//! | [`two_memories`]                | a second core memory                                         | refuse instantiation (memory count limit) |
//! | [`table_grow_bomb`]             | tool `grow_table`: `table.grow` until it fails               | resource-exhausted (table) |
//! | [`memory_grow_bomb`]            | tool `grow_memory`: `memory.grow` + fill until it fails      | resource-exhausted (memory) |
//! | [`huge_string_output`]          | ok `value` with ptr 0, len 0x7fff_ffff                       | invalid output, no crash |
//! | [`big_string_output`]           | ok `value` of N MiB of `a` (in bounds, valid UTF-8, not JSON)| output too large (cap before parse) |
//! | [`bad_utf8_output`]             | ok `value` bytes `ff fe`                                     | invalid output |
//! | [`bad_discriminant_output`]     | `result` discriminant 7                                      | invalid output |
//! | [`bad_enum_output`]             | `err` with `error-kind` 99                                   | invalid output |
//! | [`misaligned_list_output`]      | ok `content` list pointer not 4-aligned                      | invalid output |
//! | [`error_output`]                | tool `flaky`: a well-formed `err` with every field set       | report the tool error |
//! | [`unknown_import`]              | imports `evil:net/raw@1.0.0`                                 | reject at load (forbidden import) |
//! | [`wrong_version`]               | exports `toolhost:plugin/tool@0.3.0`, no imports             | reject at load (incompatible) |
//! | [`wrong_version_importing_host`]| as above, also imports `toolhost:plugin/host@0.3.0`          | reject at load |
//! | [`wrong_world`]                 | exports only `other:thing/greeter@1.0.0`                     | reject at load (incompatible) |
//! | [`empty_world`]                 | a component with no imports and no exports                   | reject at load (incompatible) |
//!
//! The canonical-ABI layouts the core modules rely on are in [`abi`]; they were
//! verified against wasmtime 48.0.8 by calling these components and a probe
//! that dumps the raw `call` parameter area.
//!
//! Every plugin component (these and real `wit-bindgen` guests) imports the
//! type-only instance `toolhost:plugin/types@0.1.0`; an import allow-list must
//! accept it (wasmtime links it without any definition in the `Linker`).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::PathBuf;

use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{Resolve, WorldId};

// ---------------------------------------------------------------------------
// Not a component at all
// ---------------------------------------------------------------------------

/// 4 KiB of deterministic pseudo-random bytes (xorshift64*, fixed seed).
pub fn random_bytes() -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(4096);
    while out.len() < 4096 {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out
}

/// A zero-length file.
pub fn empty() -> Vec<u8> {
    Vec::new()
}

/// The first half of `valid` (a file cut off mid-write).
pub fn truncated(valid: &[u8]) -> Vec<u8> {
    valid[..valid.len() / 2].to_vec()
}

/// A valid core module (not a component): exports `add(i32, i32) -> i32`.
pub fn core_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
            (func (export "add") (param i32 i32) (result i32)
                local.get 0
                local.get 1
                i32.add))"#,
    )
    .expect("core module WAT")
}

/// The WAT *text* of a valid (if useless) component, as the bytes of a `.wasm`
/// file. A host that only accepts binaries must reject it.
pub fn wat_text() -> Vec<u8> {
    let text = r#"(component
  (core module $m
    (func (export "f")))
  (core instance (instantiate $m)))
"#;
    // Keep the fixture honest: it is a real component once parsed.
    wat::parse_str(text).expect("component WAT is valid text");
    text.as_bytes().to_vec()
}

// ---------------------------------------------------------------------------
// Canonical ABI (wasm32) of the `toolhost:plugin@0.1.0` types
// ---------------------------------------------------------------------------

/// Byte layouts of the contract's types in guest memory (canonical ABI, wasm32).
///
/// Rules: `string`/`list<T>` = `(ptr: u32, len: u32)`, size 8, align 4 (`len`
/// counts bytes for strings, elements for lists); `bool` and enums with ≤ 256
/// cases = one byte; `option<T>`/`result`/`variant` = a one-byte discriminant,
/// then the payload at the next multiple of the largest payload alignment;
/// records lay fields out in order, each at its alignment, and round the size
/// up to the largest field alignment.
///
/// Core signatures of the exports (both need the spilled forms):
/// * `toolhost:plugin/tool@0.1.0#describe`: `(func (result i32))`; the result
///   `list<tool-descriptor>` flattens to 2 values (> 1 result), so the guest
///   returns a pointer to a `(ptr, len)` pair ([`LIST_SIZE`] bytes, align 4).
/// * `toolhost:plugin/tool@0.1.0#call`: `(func (param i32) (result i32))`; the
///   parameters flatten to 23 values (> 16), so the host allocates a
///   [`PARAMS_SIZE`]-byte area with `cabi_realloc` and passes its address, and
///   the guest returns a pointer to a [`RESULT_SIZE`]-byte result area.
/// * `cabi_realloc: (func (param old_ptr old_size align new_size i32) (result i32))`
///   and `memory` must be exported. No `cabi_post_*` function is required.
pub mod abi {
    /// `string` / `list<T>`: `ptr: u32 @0`, `len: u32 @4`.
    pub const LIST_SIZE: u32 = 8;
    /// `option<string>`: tag `u8 @0` (0 none, 1 some), `ptr @4`, `len @8`.
    pub const OPTION_STRING_SIZE: u32 = 12;

    // record tool-descriptor: size 40, align 4.
    pub const DESC_NAME: u32 = 0;
    pub const DESC_DESCRIPTION: u32 = 8;
    pub const DESC_INPUT_SCHEMA: u32 = 16;
    /// `option<json>`: tag @24, ptr @28, len @32.
    pub const DESC_OUTPUT_SCHEMA: u32 = 24;
    pub const DESC_IDEMPOTENT: u32 = 36;
    pub const DESC_SIZE: u32 = 40;
    pub const DESC_ALIGN: u32 = 4;

    // Parameters of `call` as one record (name, args, ctx): size 104, align 8.
    pub const PARAM_NAME: u32 = 0;
    pub const PARAM_ARGS: u32 = 8;
    /// record call-context (size 88, align 8 because of `option<u64>`).
    pub const PARAM_CTX: u32 = 16;
    pub const PARAMS_SIZE: u32 = 104;
    pub const PARAMS_ALIGN: u32 = 8;

    // record call-context, offsets relative to `PARAM_CTX`.
    pub const CTX_CALL_ID: u32 = 0;
    /// `option<string>` (tag, ptr, len) ×4: request-id, tenant-id, user-id, traceparent.
    pub const CTX_REQUEST_ID: u32 = 8;
    pub const CTX_TENANT_ID: u32 = 20;
    pub const CTX_USER_ID: u32 = 32;
    pub const CTX_TRACEPARENT: u32 = 44;
    /// `option<u64>`: tag `u8 @56`, value `u64 @64` (payload aligned to 8).
    pub const CTX_DEADLINE_MS: u32 = 56;
    pub const CTX_ATTEMPT: u32 = 72;
    /// `list<tuple<string, string>>`: ptr @76, len @80; each tuple is 16 bytes.
    pub const CTX_METADATA: u32 = 76;
    pub const CTX_SIZE: u32 = 88;

    // result<tool-output, tool-error>: tag u8 @0 (0 ok, 1 err), payload @8
    // (aligned to 8 because tool-error holds an `option<u64>`); size 56, align 8.
    pub const RESULT_TAG: u32 = 0;
    pub const RESULT_PAYLOAD: u32 = 8;
    pub const RESULT_SIZE: u32 = 56;
    pub const RESULT_ALIGN: u32 = 8;

    // record tool-output (size 20, align 4), relative to `RESULT_PAYLOAD`.
    /// `option<json>`: tag @0, ptr @4, len @8.
    pub const OUT_VALUE: u32 = 0;
    /// `list<content>`: ptr @12, len @16.
    pub const OUT_CONTENT: u32 = 12;

    // record tool-error (size 48, align 8), relative to `RESULT_PAYLOAD`.
    /// `error-kind` enum, one byte: invalid-input 0, not-found 1, denied 2,
    /// transient 3, rate-limited 4, internal 5.
    pub const ERR_KIND: u32 = 0;
    pub const ERR_MESSAGE: u32 = 4;
    /// `option<bool>`: tag @12, value @13.
    pub const ERR_RETRYABLE: u32 = 12;
    /// `option<u64>`: tag @16, value @24.
    pub const ERR_RETRY_AFTER_MS: u32 = 16;
    /// `option<json>`: tag @32, ptr @36, len @40.
    pub const ERR_DETAILS: u32 = 32;
    pub const ERR_SIZE: u32 = 48;
}

// ---------------------------------------------------------------------------
// Building components from core WAT
// ---------------------------------------------------------------------------

/// Repository root (`tests/..`).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The text of the frozen 0.1 contract (`wit/v0.1/plugin.wit`): these
/// hand-written core modules use its ABI, so they also keep the host's 0.1
/// path under hostile input.
fn plugin_wit() -> String {
    let path = repo_root().join("wit/v0.1/plugin.wit");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Resolves `plugin_wit` (the contract, possibly edited) plus an optional extra
/// WIT package that may refer to it, and selects `world` (a qualified name
/// such as `toolhost:plugin/plugin@0.1.0`).
fn resolve(plugin_wit: &str, extra_wit: Option<&str>, world: &str) -> (Resolve, WorldId) {
    let mut resolve = Resolve::default();
    let plugin = resolve.push_str("plugin.wit", plugin_wit).expect("plugin.wit resolves");
    let main = match extra_wit {
        Some(extra) => resolve.push_str("extra.wit", extra).expect("extra WIT resolves"),
        None => plugin,
    };
    let world = resolve.select_world(&[main], Some(world)).unwrap_or_else(|e| panic!("world {world}: {e:#}"));
    (resolve, world)
}

/// Parses `core_wat`, embeds the metadata of `world` and encodes a component.
fn encode(core_wat: &str, resolve: &Resolve, world: WorldId) -> Vec<u8> {
    let mut module =
        wat::parse_str(core_wat).unwrap_or_else(|e| panic!("core module WAT: {e}\n--- WAT ---\n{core_wat}"));
    wit_component::embed_component_metadata(&mut module, resolve, world, StringEncoding::UTF8)
        .expect("embedding component metadata");
    ComponentEncoder::default()
        .module(&module)
        .expect("core module matches the world")
        .validate(true)
        .encode()
        .unwrap_or_else(|e| panic!("encoding component: {e:#}\n--- WAT ---\n{core_wat}"))
}

/// A component of world `toolhost:plugin/plugin@0.1.0` from a core module that
/// follows the canonical ABI described in [`abi`].
pub fn component_from_core(core_wat: &str) -> Vec<u8> {
    let (resolve, world) = resolve(&plugin_wit(), None, "toolhost:plugin/plugin@0.1.0");
    encode(core_wat, &resolve, world)
}

/// Static data of a core module: laid out from `base` and emitted as one
/// `(data ...)` segment.
struct Image {
    base: u32,
    bytes: Vec<u8>,
}

impl Image {
    /// Static data starts at 1 KiB, leaving low addresses (and pointer 0) unused.
    const BASE: u32 = 1024;

    fn new() -> Self {
        Image { base: Self::BASE, bytes: Vec::new() }
    }

    /// Reserves `size` zeroed bytes at the given alignment; returns the address.
    fn alloc(&mut self, size: u32, align: u32) -> u32 {
        while !self.end().is_multiple_of(align) {
            self.bytes.push(0);
        }
        let addr = self.end();
        self.bytes.resize(self.bytes.len() + size as usize, 0);
        addr
    }

    /// Copies `data` in; returns `(ptr, len)`.
    fn string(&mut self, data: &[u8]) -> (u32, u32) {
        let ptr = self.alloc(data.len() as u32, 1);
        self.write(ptr, data);
        (ptr, data.len() as u32)
    }

    fn end(&self) -> u32 {
        self.base + self.bytes.len() as u32
    }

    fn write(&mut self, addr: u32, data: &[u8]) {
        let at = (addr - self.base) as usize;
        self.bytes[at..at + data.len()].copy_from_slice(data);
    }

    fn u8(&mut self, addr: u32, v: u8) {
        self.write(addr, &[v]);
    }

    fn u32(&mut self, addr: u32, v: u32) {
        self.write(addr, &v.to_le_bytes());
    }

    fn u64(&mut self, addr: u32, v: u64) {
        self.write(addr, &v.to_le_bytes());
    }

    /// Writes a `string`/`list` slot: `(ptr, len)`.
    fn slice(&mut self, addr: u32, (ptr, len): (u32, u32)) {
        self.u32(addr, ptr);
        self.u32(addr + 4, len);
    }

    /// Writes an `option<string>` slot.
    fn option_string(&mut self, addr: u32, value: Option<(u32, u32)>) {
        match value {
            None => self.u8(addr, 0),
            Some(s) => {
                self.u8(addr, 1);
                self.slice(addr + 4, s);
            }
        }
    }

    /// A `list<tool-descriptor>` with one entry per name (description "hostile
    /// fixture", input schema `{"type":"object"}`, no output schema,
    /// idempotent). Returns the address of the `(ptr, len)` pair that
    /// `describe` returns.
    fn descriptors(&mut self, names: &[&[u8]]) -> u32 {
        let description = self.string(b"hostile fixture");
        let schema = self.string(br#"{"type":"object"}"#);
        let names: Vec<_> = names.iter().map(|n| self.string(n)).collect();
        let count = names.len() as u32;
        let list = self.alloc(abi::DESC_SIZE * count, abi::DESC_ALIGN);
        for (i, name) in names.into_iter().enumerate() {
            let d = list + i as u32 * abi::DESC_SIZE;
            self.slice(d + abi::DESC_NAME, name);
            self.slice(d + abi::DESC_DESCRIPTION, description);
            self.slice(d + abi::DESC_INPUT_SCHEMA, schema);
            self.option_string(d + abi::DESC_OUTPUT_SCHEMA, None);
            self.u8(d + abi::DESC_IDEMPOTENT, 1);
        }
        self.list_return((list, count))
    }

    /// The `(ptr, len)` pair returned by `describe`.
    fn list_return(&mut self, list: (u32, u32)) -> u32 {
        let ret = self.alloc(abi::LIST_SIZE, 4);
        self.slice(ret, list);
        ret
    }

    /// An `ok(tool-output { value, content: [] })` result area; returns its address.
    fn ok_result(&mut self, value: Option<(u32, u32)>) -> u32 {
        let r = self.alloc(abi::RESULT_SIZE, abi::RESULT_ALIGN);
        self.u8(r + abi::RESULT_TAG, 0);
        self.option_string(r + abi::RESULT_PAYLOAD + abi::OUT_VALUE, value);
        // Empty list: pointer 0 is fine (aligned, zero bytes in bounds).
        self.slice(r + abi::RESULT_PAYLOAD + abi::OUT_CONTENT, (0, 0));
        r
    }

    /// An `err(tool-error { .. })` result area; returns its address.
    fn err_result(
        &mut self,
        kind: u8,
        message: &[u8],
        retryable: Option<bool>,
        retry_after_ms: Option<u64>,
        details: Option<&[u8]>,
    ) -> u32 {
        let message = self.string(message);
        let details = details.map(|d| self.string(d));
        let r = self.alloc(abi::RESULT_SIZE, abi::RESULT_ALIGN);
        let e = r + abi::RESULT_PAYLOAD;
        self.u8(r + abi::RESULT_TAG, 1);
        self.u8(e + abi::ERR_KIND, kind);
        self.slice(e + abi::ERR_MESSAGE, message);
        if let Some(retryable) = retryable {
            self.u8(e + abi::ERR_RETRYABLE, 1);
            self.u8(e + abi::ERR_RETRYABLE + 1, retryable as u8);
        }
        if let Some(ms) = retry_after_ms {
            self.u8(e + abi::ERR_RETRY_AFTER_MS, 1);
            self.u64(e + abi::ERR_RETRY_AFTER_MS + 8, ms);
        }
        self.option_string(e + abi::ERR_DETAILS, details);
        r
    }

    /// The `(data ...)` field, every byte escaped.
    fn wat(&self) -> String {
        let mut s = format!("(data (i32.const {}) \"", self.base);
        for b in &self.bytes {
            write!(s, "\\{b:02x}").unwrap();
        }
        s.push_str("\")");
        s
    }
}

/// A plugin core module in WAT. The generated module exports `memory`,
/// `cabi_realloc` (a bump allocator from `heap_start` that grows memory as
/// needed), `describe` returning the constant `describe_ret` and `call` with
/// body `call_body` (local `$params`: the parameter area; must leave the
/// result-area address on the stack).
struct CoreModule<'a> {
    /// Package version in the export names.
    version: &'a str,
    /// Extra fields placed first (imports must precede definitions).
    imports: String,
    /// Initial pages of the exported memory.
    memory_pages: u32,
    /// First address handed out by `cabi_realloc`; static data must end below it.
    heap_start: u32,
    describe_ret: u32,
    call_body: String,
    /// Extra module fields (tables, functions, ...).
    extra: String,
    image: Image,
}

impl CoreModule<'_> {
    fn new(image: Image, describe_ret: u32, call_body: String) -> Self {
        CoreModule {
            version: "0.1.0",
            imports: String::new(),
            memory_pages: 1,
            heap_start: 65536,
            describe_ret,
            call_body,
            extra: String::new(),
            image,
        }
    }

    fn wat(&self) -> String {
        assert!(self.image.end() <= self.heap_start, "static data overlaps the heap");
        format!(
            r#"(module
  {imports}
  (memory (export "memory") {pages})
  (global $heap (mut i32) (i32.const {heap}))

  ;; Bump allocator; never frees. Grows memory when the heap runs past it.
  (func (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
    (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $new_size)))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq
              (memory.grow
                (i32.shr_u
                  (i32.add
                    (i32.sub (local.get $end) (i32.shl (memory.size) (i32.const 16)))
                    (i32.const 65535))
                  (i32.const 16)))
              (i32.const -1))
          (then unreachable))))
    (if (local.get $old)
      (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "toolhost:plugin/tool@{version}#describe") (result i32)
    (i32.const {describe_ret}))

  (func (export "toolhost:plugin/tool@{version}#call") (param $params i32) (result i32)
    {call_body})

  {extra}

  {data}
)"#,
            imports = self.imports,
            pages = self.memory_pages,
            heap = self.heap_start,
            version = self.version,
            describe_ret = self.describe_ret,
            call_body = self.call_body,
            extra = self.extra,
            data = self.image.wat(),
        )
    }

    /// Encodes a `toolhost:plugin/plugin@0.1.0` component.
    fn component(&self) -> Vec<u8> {
        component_from_core(&self.wat())
    }
}

/// A plugin whose tools are `names` and whose `call` returns the result area
/// built by `result` (whatever the name and arguments).
fn static_plugin(names: &[&[u8]], result: impl FnOnce(&mut Image) -> u32) -> Vec<u8> {
    let mut image = Image::new();
    let describe_ret = image.descriptors(names);
    let ret = result(&mut image);
    CoreModule::new(image, describe_ret, format!("(i32.const {ret})")).component()
}

// ---------------------------------------------------------------------------
// Working plugins
// ---------------------------------------------------------------------------

/// One tool, `echo`: ok with `value` = the args string, no content.
pub fn minimal_plugin() -> Vec<u8> {
    echo_module("0.1.0").component()
}

/// The core module of [`minimal_plugin`] with exports of the given package version.
fn echo_module(version: &str) -> CoreModule<'_> {
    let mut image = Image::new();
    let describe_ret = image.descriptors(&[b"echo"]);
    let ret = image.ok_result(None);
    let value = ret + abi::RESULT_PAYLOAD + abi::OUT_VALUE;
    let call_body = format!(
        r#"
    ;; value = some(args): copy the args (ptr, len) from the parameter area.
    (i32.store8 (i32.const {value}) (i32.const 1))
    (i32.store (i32.const {value_ptr}) (i32.load offset={args_ptr} (local.get $params)))
    (i32.store (i32.const {value_len}) (i32.load offset={args_len} (local.get $params)))
    (i32.const {ret})"#,
        value_ptr = value + 4,
        value_len = value + 8,
        args_ptr = abi::PARAM_ARGS,
        args_len = abi::PARAM_ARGS + 4,
    );
    let mut module = CoreModule::new(image, describe_ret, call_body);
    module.version = version;
    module
}

/// Tools named `names` (same description and schema); `call` returns ok `{}`.
/// Two plugins built from overlapping lists claim the same tool name.
pub fn describe_tools(names: &[&str]) -> Vec<u8> {
    let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
    static_plugin(&names, |img| {
        let value = img.string(b"{}");
        img.ok_result(Some(value))
    })
}

/// One tool with the given name (e.g. `../etc`, `a*b`, `a\nb`, 65 chars); call → ok `{}`.
pub fn describe_bad_name(name: &str) -> Vec<u8> {
    describe_tools(&[name])
}

/// `describe` returns a `list<tool-descriptor>` of 0x0100_0000 entries at
/// address 1024: 640 MiB of descriptors, far past the end of the 64 KiB memory.
pub fn describe_bad_list() -> Vec<u8> {
    let mut image = Image::new();
    let describe_ret = image.list_return((Image::BASE, 0x0100_0000));
    let ret = image.ok_result(None);
    CoreModule::new(image, describe_ret, format!("(i32.const {ret})")).component()
}

// ---------------------------------------------------------------------------
// Resource bombs
// ---------------------------------------------------------------------------

/// A plugin with a core table of 10,000,000 funcrefs (the most a validator
/// accepts for a 32-bit table; ~80 MB of table). Instantiation must be refused
/// by the store limiter (`table_elements`).
pub fn huge_table() -> Vec<u8> {
    let mut module = echo_module("0.1.0");
    module.extra = "(table $huge 10000000 funcref)".to_string();
    module.component()
}

/// A plugin whose exported memory starts at 65,536 pages (4 GiB). Instantiation
/// must be refused by the memory limit.
pub fn huge_memory() -> Vec<u8> {
    let mut module = echo_module("0.1.0");
    module.memory_pages = 65536;
    module.component()
}

/// A plugin with a second (unused) core memory of 16 pages. A limiter with
/// `memories(1)` must refuse instantiation.
pub fn two_memories() -> Vec<u8> {
    let mut module = echo_module("0.1.0");
    module.extra = "(memory $second 16)".to_string();
    module.component()
}

/// Tool `grow_table`: `table.grow` by 1,048,576 elements in a loop until it
/// returns -1, then ok `{"grow_failed":true}`. Without a table limit this
/// allocates 8 bytes per element without bound. Note: a limiter that merely
/// denies growth makes `table.grow` return -1 and the call then *succeeds*;
/// the host must trap on denial (or record it) to report resource exhaustion.
pub fn table_grow_bomb() -> Vec<u8> {
    let mut image = Image::new();
    let describe_ret = image.descriptors(&[b"grow_table"]);
    let value = image.string(br#"{"grow_failed":true}"#);
    let ret = image.ok_result(Some(value));
    let call_body = format!(
        r#"
    (block $failed
      (loop $again
        (br_if $failed
          (i32.eq (table.grow $bomb (ref.null func) (i32.const 1048576)) (i32.const -1)))
        (br $again)))
    (i32.const {ret})"#
    );
    let mut module = CoreModule::new(image, describe_ret, call_body);
    module.extra = "(table $bomb 1 funcref)".to_string();
    module.component()
}

/// Tool `grow_memory`: `memory.grow` by 16 pages (1 MiB) and `memory.fill` the
/// new pages in a loop until growth fails, then ok `{"grow_failed":true}`.
/// Up to 4 GiB of touched memory without a limit; same denial caveat as
/// [`table_grow_bomb`].
pub fn memory_grow_bomb() -> Vec<u8> {
    let mut image = Image::new();
    let describe_ret = image.descriptors(&[b"grow_memory"]);
    let value = image.string(br#"{"grow_failed":true}"#);
    let ret = image.ok_result(Some(value));
    let call_body = format!(
        r#"
    (local $old i32)
    (block $failed
      (loop $again
        (local.set $old (memory.grow (i32.const 16)))
        (br_if $failed (i32.eq (local.get $old) (i32.const -1)))
        ;; Touch every new byte so the pages become resident.
        (memory.fill
          (i32.shl (local.get $old) (i32.const 16)) (i32.const 0xAA) (i32.const 1048576))
        (br $again)))
    (i32.const {ret})"#
    );
    CoreModule::new(image, describe_ret, call_body).component()
}

// ---------------------------------------------------------------------------
// Invalid output (tool `bad`)
// ---------------------------------------------------------------------------

/// Ok result whose `value` string claims `ptr 0, len 0x7fff_ffff` (2 GiB) in a
/// 64 KiB memory. Lifting must fail with an error (out of bounds), not crash
/// or allocate 2 GiB.
pub fn huge_string_output() -> Vec<u8> {
    static_plugin(&[b"bad"], |img| img.ok_result(Some((0, 0x7fff_ffff))))
}

/// Ok result whose `value` is `mib` MiB of `a` (in bounds, valid UTF-8, not
/// JSON), filled at call time. Tests output caps / hostcall fuel (B6).
pub fn big_string_output(mib: u32) -> Vec<u8> {
    let len = mib << 20;
    let mut image = Image::new();
    let describe_ret = image.descriptors(&[b"big"]);
    // The string occupies pages 1..=16·mib; the heap starts after it.
    let start = 65536;
    let ret = image.ok_result(Some((start, len)));
    let call_body = format!(
        r#"
    (memory.fill (i32.const {start}) (i32.const 0x61) (i32.const {len}))
    (i32.const {ret})"#
    );
    let mut module = CoreModule::new(image, describe_ret, call_body);
    module.memory_pages = 1 + mib * 16;
    module.heap_start = start + len;
    module.component()
}

/// Ok result whose `value` bytes are `ff fe` (invalid UTF-8).
pub fn bad_utf8_output() -> Vec<u8> {
    static_plugin(&[b"bad"], |img| {
        let value = img.string(&[0xff, 0xfe]);
        img.ok_result(Some(value))
    })
}

/// A `result` discriminant of 7 (only 0 and 1 exist).
pub fn bad_discriminant_output() -> Vec<u8> {
    static_plugin(&[b"bad"], |img| {
        let r = img.ok_result(None);
        img.u8(r + abi::RESULT_TAG, 7);
        r
    })
}

/// An `err` whose `error-kind` is 99 (only 0..=5 exist).
pub fn bad_enum_output() -> Vec<u8> {
    static_plugin(&[b"bad"], |img| img.err_result(99, b"bad kind", None, None, None))
}

/// Ok result whose `content` list pointer (1025) is not 4-aligned.
pub fn misaligned_list_output() -> Vec<u8> {
    static_plugin(&[b"bad"], |img| {
        let r = img.ok_result(None);
        img.slice(r + abi::RESULT_PAYLOAD + abi::OUT_CONTENT, (1025, 1));
        r
    })
}

/// Tool `flaky`: a well-formed failure with every field set:
/// `err(tool-error { kind: transient, message: "try later", retryable:
/// some(false), retry-after-ms: some(1500), details: some("{\"why\":\"test\"}") })`.
/// A control for the invalid-output fixtures.
pub fn error_output() -> Vec<u8> {
    static_plugin(&[b"fails"], |img| {
        img.err_result(3, b"try later", Some(false), Some(1500), Some(br#"{"why":"test"}"#))
    })
}

// ---------------------------------------------------------------------------
// Wrong imports, version or world
// ---------------------------------------------------------------------------

/// A plugin whose core module imports `connect` from `evil:net/raw@1.0.0`, an
/// interface no host provides (and calls it from `call`). Must fail at load
/// (import policy / linking).
pub fn unknown_import() -> Vec<u8> {
    const EVIL_WIT: &str = r#"
package evil:net@1.0.0;

interface raw {
    connect: func(addr: string) -> u32;
}

world evil-plugin {
    include toolhost:plugin/plugin@0.1.0;
    import raw;
}
"#;
    let mut image = Image::new();
    let describe_ret = image.descriptors(&[b"connect"]);
    let addr = image.string(b"169.254.169.254:80");
    let ret = image.ok_result(None);
    let call_body = format!(
        r#"
    (drop (call $connect (i32.const {ptr}) (i32.const {len})))
    (i32.const {ret})"#,
        ptr = addr.0,
        len = addr.1,
    );
    let mut module = CoreModule::new(image, describe_ret, call_body);
    module.imports =
        r#"(import "evil:net/raw@1.0.0" "connect" (func $connect (param i32 i32) (result i32)))"#.to_string();
    let (resolve, world) = resolve(&plugin_wit(), Some(EVIL_WIT), "evil-plugin");
    encode(&module.wat(), &resolve, world)
}

/// The 0.1 contract with the package version changed to 0.3.0 (a contract
/// this host does not know).
fn plugin_wit_v0_3() -> String {
    let wit = plugin_wit();
    let edited = wit.replace("package toolhost:plugin@0.1.0;", "package toolhost:plugin@0.3.0;");
    assert_ne!(wit, edited, "plugin.wit no longer declares @0.1.0");
    edited
}

/// [`minimal_plugin`] built against `toolhost:plugin@0.3.0`: exports
/// `toolhost:plugin/tool@0.3.0` and imports nothing, so it instantiates but
/// has neither a `tool@0.2.0` nor a `tool@0.1.0` export (0.x versions are
/// not semver-compatible across minors).
pub fn wrong_version() -> Vec<u8> {
    let (resolve, world) = resolve(&plugin_wit_v0_3(), None, "toolhost:plugin/plugin@0.3.0");
    encode(&echo_module("0.3.0").wat(), &resolve, world)
}

/// Like [`wrong_version`] but the core module also imports
/// `toolhost:plugin/host@0.3.0#log`, so linking fails too.
pub fn wrong_version_importing_host() -> Vec<u8> {
    let mut module = echo_module("0.3.0");
    // log: func(level: log-level, message: string) → (i32 i32 i32).
    module.imports =
        r#"(import "toolhost:plugin/host@0.3.0" "log" (func $log (param i32 i32 i32)))"#.to_string();
    module.extra = "(func $uses_log (call $log (i32.const 2) (i32.const 0) (i32.const 0)))".into();
    let (resolve, world) = resolve(&plugin_wit_v0_3(), None, "toolhost:plugin/plugin@0.3.0");
    encode(&module.wat(), &resolve, world)
}

/// A component that exports only `other:thing/greeter@1.0.0` (`hello() -> u32`).
pub fn wrong_world() -> Vec<u8> {
    const OTHER_WIT: &str = r#"
package other:thing@1.0.0;

interface greeter {
    hello: func() -> u32;
}

world greeter-world {
    export greeter;
}
"#;
    let core = r#"(module
  (memory (export "memory") 1)
  (func (export "other:thing/greeter@1.0.0#hello") (result i32) (i32.const 42)))"#;
    let (resolve, world) = resolve(&plugin_wit(), Some(OTHER_WIT), "greeter-world");
    encode(core, &resolve, world)
}

/// A component with no imports and no exports.
pub fn empty_world() -> Vec<u8> {
    const EMPTY_WIT: &str = "package other:empty@1.0.0;\n\nworld nothing {}\n";
    let (resolve, world) = resolve(&plugin_wit(), Some(EMPTY_WIT), "nothing");
    encode("(module)", &resolve, world)
}

// ---------------------------------------------------------------------------
// Self-checks (no host needed)
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes 4..8 of a component (`0d 00 01 00`) and of a core module (`01 00 00 00`).
    const COMPONENT: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    const CORE: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

    fn header(bytes: &[u8]) -> Option<[u8; 4]> {
        (bytes.len() >= 8 && &bytes[..4] == b"\0asm").then(|| bytes[4..8].try_into().unwrap())
    }

    #[test]
    fn non_components_are_what_they_claim() {
        assert_eq!(random_bytes().len(), 4096);
        assert_eq!(random_bytes(), random_bytes(), "deterministic");
        assert_eq!(header(&random_bytes()), None);
        assert!(empty().is_empty());
        let valid = minimal_plugin();
        assert_eq!(truncated(&valid).len(), valid.len() / 2);
        assert_eq!(header(&core_module()), Some(CORE));
        assert!(wat_text().starts_with(b"(component"));
    }

    #[test]
    fn every_component_builder_encodes() {
        type Builder = fn() -> Vec<u8>;
        let builders: &[(&str, Builder)] = &[
            ("minimal_plugin", minimal_plugin),
            ("describe_bad_list", describe_bad_list),
            ("huge_table", huge_table),
            ("huge_memory", huge_memory),
            ("two_memories", two_memories),
            ("table_grow_bomb", table_grow_bomb),
            ("memory_grow_bomb", memory_grow_bomb),
            ("huge_string_output", huge_string_output),
            ("bad_utf8_output", bad_utf8_output),
            ("bad_discriminant_output", bad_discriminant_output),
            ("bad_enum_output", bad_enum_output),
            ("misaligned_list_output", misaligned_list_output),
            ("error_output", error_output),
            ("unknown_import", unknown_import),
            ("wrong_version", wrong_version),
            ("wrong_version_importing_host", wrong_version_importing_host),
            ("wrong_world", wrong_world),
            ("empty_world", empty_world),
        ];
        for (name, build) in builders {
            assert_eq!(header(&build()), Some(COMPONENT), "{name}");
        }
        for name in ["../etc", "a*b", "a\nb", "x".repeat(65).as_str()] {
            assert_eq!(header(&describe_bad_name(name)), Some(COMPONENT), "{name:?}");
        }
        assert_eq!(header(&describe_tools(&["one", "two", "one"])), Some(COMPONENT));
        assert_eq!(header(&big_string_output(2)), Some(COMPONENT));
    }
}
