//! Query parameters as OpenWhisk reads them, with 400s for bad values (axum's `Query`
//! extractor would answer its own plain-text rejection).

use super::error::ApiError;
use std::collections::HashMap;

pub struct QueryParams(HashMap<String, String>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Self(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(false),
            Some("true") | Some("") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "The query parameter `{key}` must be true or false, not `{other}`."
            ))),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "The query parameter `{key}` must be a non-negative integer, not `{v}`."
                    ))
                })
            })
            .transpose()
    }

    /// OpenWhisk's `limit`: default 30, at most 200 (0 means the maximum).
    pub fn limit(&self) -> Result<u64, ApiError> {
        match self.number("limit")? {
            None => Ok(30),
            Some(0) => Ok(200),
            Some(n) if n <= 200 => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "The value {n} exceeds the allowed limit of 200 for `limit`."
            ))),
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_numbers_and_escapes() {
        let q = QueryParams::parse(Some("blocking=true&result&limit=5&name=a%20b+c&x=%zz"));
        assert!(q.flag("blocking").unwrap());
        assert!(q.flag("result").unwrap());
        assert!(!q.flag("missing").unwrap());
        assert_eq!(q.limit().unwrap(), 5);
        assert_eq!(q.get("name"), Some("a b c"));
        assert_eq!(q.get("x"), Some("%zz"));
        assert!(QueryParams::parse(Some("blocking=yes"))
            .flag("blocking")
            .is_err());
        assert!(QueryParams::parse(Some("limit=201")).limit().is_err());
        assert!(QueryParams::parse(Some("skip=-1")).number("skip").is_err());
        assert_eq!(QueryParams::parse(None).limit().unwrap(), 30);
    }
}
