//! Where a key of a TOML file is written: the line of a dotted key, the key of a line, the
//! line of one entry of an array, so that errors and warnings name the line.

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a dotted TOML key (`sip.tcp.max_connections`) is assigned: a line that
/// starts with its last part followed by `=`, inside the table of the other parts when that
/// table has a header. Comments never match.
pub(super) fn key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, leaf) = match dotted.rsplit_once('.') {
        Some((t, l)) => (t, l),
        None => ("", dotted),
    };
    let mut current = String::new();
    let mut fallback = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            continue;
        }
        let Some(rest) = line.strip_prefix(leaf) else {
            continue;
        };
        if !rest.trim_start().starts_with('=') {
            continue;
        }
        if current == table {
            return Some(i + 1);
        }
        fallback.get_or_insert(i + 1);
    }
    fallback
}

/// The dotted key assigned on the line of `offset` (`sip.events` for an error in the value of
/// `events = …` under `[sip]`); `None` when the line assigns no key (a continuation line of an
/// array or inline table).
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[line_start..offset].split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with(['[', '{', '#']) || key.contains(['{', ',', ' ']) {
        return None;
    }
    let table = text[..line_start].lines().rev().find_map(|line| {
        let header = line.trim().strip_prefix('[')?;
        Some(
            header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned(),
        )
    });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_owned(),
    })
}

/// The line of one entry of an array key: the first line from the key's own line on that
/// contains the entry's text; the key's line when the text is written differently (escaped).
pub(super) fn entry_line(text: &str, dotted: &str, entry: &str) -> Option<usize> {
    let start = key_line(text, dotted)?;
    let found = text
        .lines()
        .enumerate()
        .skip(start - 1)
        .find(|(_, line)| !entry.is_empty() && line.contains(entry))
        .map(|(i, _)| i + 1);
    Some(found.unwrap_or(start))
}
