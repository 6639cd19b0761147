//! The INI files the vendors' tools write (`~/.aws/credentials`,
//! `~/.aws/config`, `~/.alibabacloud/credentials`), read as they read them:
//! `[section]` headers, `key = value` lines, `#` and `;` comments on their
//! own lines. An indented line continues the key above it (the AWS config's
//! nested `s3 =` settings), which is no credential and is skipped; general
//! INI crates read those lines as keys of their own, hence this reader.

use std::collections::HashMap;
use std::path::Path;

/// Sections by name; each a map of keys (lower case) to values.
pub(super) type Sections = HashMap<String, HashMap<String, String>>;

/// A file's sections; `None` if there is no such file.
pub(super) fn read(path: &Path) -> Result<Option<Sections>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{} cannot be read ({e})", path.display())),
    }
}

pub(super) fn parse(text: &str) -> Sections {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            sections.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_comments_and_nested_settings() {
        let s = parse(
            "# top\n[default]\naws_access_key_id = AKID\n; note\n\
             aws_secret_access_key=SECRET \n[profile dev]\nregion = eu-west-1\n\
             s3 =\n  max_concurrency = 20\nrole_arn = arn:aws:iam::1:role/r\n",
        );
        assert_eq!(s["default"]["aws_access_key_id"], "AKID");
        assert_eq!(s["default"]["aws_secret_access_key"], "SECRET");
        assert_eq!(s["profile dev"]["role_arn"], "arn:aws:iam::1:role/r");
        assert!(!s["profile dev"].contains_key("max_concurrency"));
    }
}
