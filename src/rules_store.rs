//! Rule groups managed through the admin API, as versioned configuration.
//!
//! Every change (`put`, `delete`, `rollback`) is a new version with its author, message and
//! time; old versions are never rewritten. Layout under `<data_dir>/rules-api/`:
//!
//! ```text
//! groups/<group>/v000001.yml    one rule file holding exactly the group, as it was PUT
//! groups/<group>/history.jsonl  one JSON line per version: version, time_ms, author, message,
//!                               action (put|delete|rollback), from (rollback source)
//! active/<group>.yml            the live version of every group not deleted (what the rule
//!                               engine loads, beside the files of --rules-dir)
//! ```
//!
//! `<group>` is the group name with every byte outside `[A-Za-z0-9_-]` written `%XX`, so any
//! name maps to one safe file name and back. Writes go through a temp file, fsync and rename,
//! so a crash leaves the previous version or the new one, never half a file.
//!
//! The store knows no HTTP and no rule engine: it validates with [`rules::file::parse`] and
//! [`rules::group::Group::new`] (the same checks as a reload) and leaves the reload to its caller.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The group text is not a valid rule group (the message says where).
    #[error("{0}")]
    Invalid(String),
    #[error("rule group {0:?} not found")]
    NotFound(String),
    #[error("version {version} of rule group {group:?} not found")]
    NoVersion { group: String, version: u64 },
    /// The group comes from a `--rules-dir` file and is read-only through the API.
    #[error("rule group {0:?} is defined in the rules directory and is read-only through the API")]
    ReadOnly(String),
    #[error("rule store I/O on {path}: {err}")]
    Io { path: String, err: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |err| StoreError::Io { path: path.display().to_string(), err }
}

/// What happened in one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Put,
    Delete,
    Rollback,
}

/// One version of a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: u64,
    pub time_ms: i64,
    pub author: String,
    pub message: String,
    pub action: Action,
    /// The version a rollback restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
}

/// A group's live state.
#[derive(Clone, Debug, PartialEq)]
pub struct Current {
    pub name: String,
    pub version: Version,
    /// The rule file text (one group).
    pub text: String,
}

/// The result of a change: the version written and the live text before and after it
/// (`None` where the group did not exist or was deleted).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub version: Version,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The store. One writer at a time (a mutex); reads go to the files.
pub struct RulesStore {
    dir: PathBuf,
    lock: Mutex<()>,
}

/// The file-name form of a group name.
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses `text` as one rule group named `name`: either a rule file with exactly that one group
/// (`groups: [{name: ..., rules: [...]}]`) or the group mapping itself (`name:`, `rules:`; `name`
/// may be left out). Returns the canonical rule-file text to store, after the same validation
/// as a reload (expressions, templates, durations).
pub fn validate_group(name: &str, text: &str, opts: &rules::group::GroupOptions) -> Result<String, StoreError> {
    // A JSON group mapping (`{"name": ..., "rules": [...]}`): name it if it is not, then treat
    // it as the YAML it is (JSON is YAML).
    let json_group;
    let text = if text.trim_start().starts_with('{') {
        let mut v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| StoreError::Invalid(format!("api:{name}: invalid JSON: {e}")))?;
        match v.as_object_mut() {
            Some(o) if !o.contains_key("groups") => {
                o.entry("name").or_insert_with(|| serde_json::Value::String(name.to_string()));
                json_group = v.to_string();
                json_group.as_str()
            }
            _ => text,
        }
    } else {
        text
    };
    let file_name = format!("api:{name}");
    let as_file = rules::file::parse(&file_name, text);
    let (file_text, parsed) = match as_file {
        Ok(f) if !f.groups.is_empty() => (text.to_string(), f),
        _ => {
            // The group mapping itself: indent it under `groups:`.
            let mut wrapped = String::from("groups:\n  - ");
            let mut first = true;
            let has_name = text.lines().any(|l| l.starts_with("name:")) || text.trim_start().starts_with('{');
            if !has_name {
                wrapped.push_str(&format!("name: {}\n    ", serde_json::Value::String(name.into())));
            }
            for line in text.lines() {
                if !first {
                    wrapped.push_str("\n    ");
                }
                wrapped.push_str(line);
                first = false;
            }
            wrapped.push('\n');
            // Positions are reported in the body as sent: the wrapper added lines and indent.
            let added_lines = if has_name { 1 } else { 2 };
            let f = rules::file::parse(&file_name, &wrapped).map_err(|errs| {
                let shifted = errs.into_iter().map(|mut e| {
                    if e.line > added_lines {
                        e.line -= added_lines;
                        e.col = e.col.saturating_sub(4).max(1);
                    }
                    e.to_string()
                });
                StoreError::Invalid(shifted.collect::<Vec<_>>().join("\n"))
            })?;
            (wrapped, f)
        }
    };
    if parsed.groups.len() != 1 {
        return Err(StoreError::Invalid(format!(
            "the body must hold exactly one rule group, found {}",
            parsed.groups.len()
        )));
    }
    let g = &parsed.groups[0];
    if g.name != name {
        return Err(StoreError::Invalid(format!(
            "the group in the body is named {:?}, the URL names {name:?}",
            g.name
        )));
    }
    rules::group::Group::new(&file_name, g, opts).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(file_text)
}

impl RulesStore {
    /// Opens (creating) the store at `dir` (`<data_dir>/rules-api`).
    pub fn open(dir: &Path) -> Result<RulesStore, StoreError> {
        for sub in ["groups", "active"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(RulesStore { dir: dir.to_path_buf(), lock: Mutex::new(()) })
    }

    /// Makes every live file follow its group's history (the last version, or no file after a
    /// delete). A crash or an I/O error between writing a version and making it live leaves
    /// them apart; run at start, before the rule engine loads the live files. Returns the
    /// groups whose live file was rewritten or removed.
    pub fn reconcile(&self) -> Result<Vec<String>, StoreError> {
        let _w = self.lock.lock();
        let mut fixed = Vec::new();
        for n in &self.group_names()? {
            let want = self.current(n)?.map(|c| c.text);
            let live = self.active_file(n);
            let have = match fs::read_to_string(&live) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io(&live)(e)),
            };
            if have != want {
                tracing::warn!(group = %n, "live rule file differs from the group's history; restoring the last version");
                self.set_active(n, want.as_deref())?;
                fixed.push(n.clone());
            }
        }
        Ok(fixed)
    }

    /// The directory of live groups, loaded by the rule engine.
    pub fn active_dir(&self) -> PathBuf {
        self.dir.join("active")
    }

    fn group_dir(&self, name: &str) -> PathBuf {
        self.dir.join("groups").join(encode_name(name))
    }

    fn active_file(&self, name: &str) -> PathBuf {
        self.active_dir().join(format!("{}.yml", encode_name(name)))
    }

    /// Every version of `name`, oldest first (empty if the group never existed).
    pub fn versions(&self, name: &str) -> Result<Vec<Version>, StoreError> {
        let p = self.group_dir(name).join("history.jsonl");
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&p)(e)),
        };
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Version>(line) {
                Ok(v) => out.push(v),
                // A torn last line (crash between write and fsync) is not a version.
                Err(e) => tracing::warn!(file = %p.display(), error = %e, "skipping an unreadable history line"),
            }
        }
        Ok(out)
    }

    /// The text of version `v` (a delete version has the text of the version it deleted).
    pub fn version_text(&self, name: &str, v: u64) -> Result<String, StoreError> {
        let p = self.group_dir(name).join(format!("v{v:06}.yml"));
        match fs::read_to_string(&p) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NoVersion { group: name.to_string(), version: v })
            }
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// The live group, `None` if it never existed or is deleted.
    pub fn current(&self, name: &str) -> Result<Option<Current>, StoreError> {
        let Some(last) = self.versions(name)?.pop() else { return Ok(None) };
        if last.action == Action::Delete {
            return Ok(None);
        }
        let text = self.version_text(name, last.version)?;
        Ok(Some(Current { name: name.to_string(), version: last, text }))
    }

    /// The name of every group that ever existed, sorted.
    fn group_names(&self) -> Result<Vec<String>, StoreError> {
        let p = self.dir.join("groups");
        let mut names: Vec<String> = fs::read_dir(&p)
            .map_err(io(&p))?
            .filter_map(|e| e.ok())
            .filter_map(|e| decode_name(&e.file_name().to_string_lossy()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The names of every live group, sorted.
    pub fn list(&self) -> Result<Vec<Current>, StoreError> {
        let mut out = Vec::new();
        for n in self.group_names()? {
            if let Some(c) = self.current(&n)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Stores `text` (already validated, see [`validate_group`]) as the next version of `name`
    /// and makes it live.
    pub fn put(&self, name: &str, text: &str, author: &str, message: &str, now_ms: i64) -> Result<Change, StoreError> {
        self.write_version(name, Some(text), Action::Put, None, author, message, now_ms)
    }

    /// Deletes the group (a new version; its history stays).
    pub fn delete(&self, name: &str, author: &str, message: &str, now_ms: i64) -> Result<Change, StoreError> {
        if self.current(name)?.is_none() {
            return Err(StoreError::NotFound(name.to_string()));
        }
        self.write_version(name, None, Action::Delete, None, author, message, now_ms)
    }

    /// Makes the text of version `to` live again, as a new version.
    pub fn rollback(
        &self,
        name: &str,
        to: u64,
        author: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<Change, StoreError> {
        let versions = self.versions(name)?;
        if versions.is_empty() {
            return Err(StoreError::NotFound(name.to_string()));
        }
        let target = versions.iter().find(|v| v.version == to);
        match target {
            Some(v) if v.action != Action::Delete => {}
            _ => return Err(StoreError::NoVersion { group: name.to_string(), version: to }),
        }
        let text = self.version_text(name, to)?;
        self.write_version(name, Some(&text), Action::Rollback, Some(to), author, message, now_ms)
    }

    /// Undoes the live file of a change the rule engine refused (the version stays in the
    /// history, followed by the restored state's own version).
    pub fn restore_active(&self, name: &str, text: Option<&str>) -> Result<(), StoreError> {
        let _w = self.lock.lock();
        self.set_active(name, text)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_version(
        &self,
        name: &str,
        text: Option<&str>,
        action: Action,
        from: Option<u64>,
        author: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<Change, StoreError> {
        let _w = self.lock.lock();
        let before = self.current(name)?.map(|c| c.text);
        let prev = self.versions(name)?;
        let version = prev.last().map_or(1, |v| v.version + 1);
        let gdir = self.group_dir(name);
        fs::create_dir_all(&gdir).map_err(io(&gdir))?;
        let stored = text.or(before.as_deref()).unwrap_or("");
        write_atomic(&gdir.join(format!("v{version:06}.yml")), stored.as_bytes())?;
        let v = Version {
            version,
            time_ms: now_ms,
            author: author.to_string(),
            message: message.to_string(),
            action,
            from,
        };
        let history = gdir.join("history.jsonl");
        let len_before = fs::metadata(&history).map(|m| m.len()).unwrap_or(0);
        append_line(&history, &v)?;
        if let Err(e) = self.set_active(name, text) {
            // The version never went live: take its history line back, so the history keeps
            // showing what the rule engine loads. Should that fail too, `reconcile` at the next
            // start makes the live file follow the history.
            if let Err(te) = truncate(&history, len_before) {
                tracing::error!(file = %history.display(), error = %te, "history line of a failed change not removed");
            }
            return Err(e);
        }
        Ok(Change { version: v, before, after: text.map(str::to_string) })
    }

    fn set_active(&self, name: &str, text: Option<&str>) -> Result<(), StoreError> {
        let p = self.active_file(name);
        match text {
            Some(t) => write_atomic(&p, t.as_bytes()),
            None => match fs::remove_file(&p) {
                Ok(()) => sync_dir(&self.active_dir()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io(&p)(e)),
            },
        }
    }
}

/// The `${param}` placeholders of a rule group template, sorted and de-duplicated.
pub fn template_params(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(p, _)| p.to_string()))
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `text` with every `${param}` replaced by its value; every placeholder must have one.
pub fn instantiate(text: &str, params: &std::collections::BTreeMap<String, String>) -> Result<String, StoreError> {
    let missing: Vec<String> = template_params(text).into_iter().filter(|p| !params.contains_key(p)).collect();
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!("template parameters without a value: {}", missing.join(", "))));
    }
    let mut out = text.to_string();
    for (k, v) in params {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    Ok(out)
}

impl RulesStore {
    /// Stores a rule group template (a group with `${param}` placeholders), replacing any
    /// earlier one of that name.
    pub fn put_template(&self, name: &str, text: &str) -> Result<(), StoreError> {
        let d = self.dir.join("templates");
        fs::create_dir_all(&d).map_err(io(&d))?;
        write_atomic(&d.join(format!("{}.yml", encode_name(name))), text.as_bytes())
    }

    /// A stored template's text.
    pub fn template(&self, name: &str) -> Result<String, StoreError> {
        let p = self.dir.join("templates").join(format!("{}.yml", encode_name(name)));
        match fs::read_to_string(&p) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound(format!("template {name}"))),
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// The names of the stored templates, sorted.
    pub fn templates(&self) -> Result<Vec<String>, StoreError> {
        let d = self.dir.join("templates");
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&d)(e)),
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".yml").and_then(decode_name))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The inverse of [`encode_name`]; `None` for names it never produces.
pub fn decode_name(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A unified diff of two versions' texts (`---`/`+++` headers, three lines of context).
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(old_name, new_name).to_string()
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(data).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn append_line(path: &Path, v: &Version) -> Result<(), StoreError> {
    let mut line = serde_json::to_vec(v).map_err(|e| StoreError::Invalid(e.to_string()))?;
    line.push(b'\n');
    let mut f = fs::OpenOptions::new().create(true).append(true).open(path).map_err(io(path))?;
    f.write_all(&line).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn truncate(path: &Path, len: u64) -> Result<(), StoreError> {
    let f = fs::OpenOptions::new().write(true).open(path).map_err(io(path))?;
    f.set_len(len).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
#[path = "rules_store/tests.rs"]
mod tests;
