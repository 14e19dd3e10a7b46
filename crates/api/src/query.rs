//! awsQuery parameters: the form (`application/x-www-form-urlencoded` body and query string)
//! decoded into [`Params`], and typed readers for the shapes of the ElastiCache model
//! (`shared/reference/elasticache-api.md` §2.1).
//!
//! | kind | wire form | reader |
//! |---|---|---|
//! | string | `Name=value` | [`Params::string`] |
//! | boolean | `true` / `false` | [`Params::boolean`] |
//! | integer | decimal | [`Params::integer`] |
//! | timestamp | ISO-8601, with or without fraction | [`Params::timestamp`] |
//! | list of scalars | `Name.<member>.N` (N from 1) | [`Params::list`] |
//! | list of structures | `Name.<member>.N.Field` | [`Params::structures`] |
//! | empty list | `Name=` | both list readers answer `[]` |
//!
//! Every reader reports a malformed value as a [`DecodeError`] naming the parameter (a 400 at
//! the edge, never a 500). Lists are read by scanning the keys that are present, never by
//! allocating up to the largest index, and an index above [`LIST_INDEX_MAX`] is refused, so a
//! request such as `Tags.Tag.4294967295.Key=x` costs nothing.

use std::collections::BTreeMap;

use ferrocache_model::Timestamp;

/// Most `name=value` pairs one request may carry (query string and body together). The body
/// limit bounds memory already; this bounds the work per request and names the limit.
pub const PARAMS_MAX: usize = 5_000;
/// Largest list index `N` accepted in `Name.<member>.N` (AWS's own lists are far shorter:
/// 50 tags, 6 cache clusters).
pub const LIST_INDEX_MAX: usize = 1_000;
/// Longest piece of a client's value echoed back in an error message.
pub const ECHO_CHARS_MAX: usize = 64;

/// One entry of a list of structures: its index `N` and its fields (`Field` → value).
pub type Entry = (usize, BTreeMap<String, String>);

/// A parameter that cannot be read as its model shape.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// More than [`PARAMS_MAX`] parameters.
    #[error("The request carries more than {max} parameters.")]
    TooManyParameters {
        /// The limit.
        max: usize,
    },
    /// A boolean that is neither `true` nor `false`.
    #[error(
        "Invalid boolean value {value:?} for parameter {name}. Valid values are true and false."
    )]
    Boolean {
        /// Parameter name.
        name: String,
        /// The value sent (shortened).
        value: String,
    },
    /// An integer that does not parse (or does not fit 64 bits).
    #[error("Invalid integer value {value:?} for parameter {name}.")]
    Integer {
        /// Parameter name.
        name: String,
        /// The value sent (shortened).
        value: String,
    },
    /// A timestamp that is not ISO-8601.
    #[error("Invalid timestamp value {value:?} for parameter {name}. Use ISO-8601, e.g. 2026-11-21T21:00:00Z.")]
    Timestamp {
        /// Parameter name.
        name: String,
        /// The value sent (shortened).
        value: String,
    },
    /// A list key whose index is not a number in `1..=max`.
    #[error("Invalid list parameter {key}: the index must be a number from 1 to {max}.")]
    ListIndex {
        /// The offending key (shortened).
        key: String,
        /// [`LIST_INDEX_MAX`].
        max: usize,
    },
    /// A list key that is repeated or has the wrong shape (a field on a scalar list, no field
    /// on a structure list).
    #[error("Invalid list parameter {key}: {reason}")]
    ListKey {
        /// The offending key (shortened).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Shortens a client's text for an error message (never slices inside a character).
pub(crate) fn echo(value: &str) -> String {
    value.chars().take(ECHO_CHARS_MAX).collect()
}

/// The decoded parameters of one request.
///
/// Keys are kept sorted so a list is one range scan over its prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Parameter name → value (already URL-decoded: `+` is a space, `%3A` is `:`).
    map: BTreeMap<String, String>,
}

impl Params {
    /// Decodes the query string and then the form body; a key in the body overrides the same
    /// key in the query string (within one source the last occurrence wins).
    ///
    /// Bytes that are not UTF-8 after percent-decoding become U+FFFD rather than an error, as
    /// the identifiers they end up in are validated by the model anyway.
    ///
    /// # Errors
    /// [`DecodeError::TooManyParameters`] past [`PARAMS_MAX`] pairs.
    pub fn parse(query: Option<&str>, body: &[u8]) -> Result<Self, DecodeError> {
        let mut map = BTreeMap::new();
        let mut pairs = 0usize;
        let sources = [query.unwrap_or("").as_bytes(), body];
        for source in sources {
            for (key, value) in form_urlencoded::parse(source) {
                pairs += 1;
                if pairs > PARAMS_MAX {
                    return Err(DecodeError::TooManyParameters { max: PARAMS_MAX });
                }
                map.insert(key.into_owned(), value.into_owned());
            }
        }
        Ok(Self { map })
    }

    /// Parameters from `(name, value)` pairs (tests and internal callers).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            map: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The raw value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Whether `name` is present as a scalar or as any list/structure key under it
    /// (`Name=`, `Name.x.1=…`). Used for required members.
    pub fn present(&self, name: &str) -> bool {
        self.map.contains_key(name) || self.under(&format!("{name}.")).next().is_some()
    }

    /// A string member, as sent (an empty value stays empty: the model decides what is blank).
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// A boolean member: `true` or `false` (ASCII case ignored, as AWS's Java front ends do).
    ///
    /// # Errors
    /// [`DecodeError::Boolean`] for any other text.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, DecodeError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(DecodeError::Boolean {
                name: name.to_string(),
                value: echo(v),
            }),
        }
    }

    /// An integer member (decimal, optional sign, 64-bit).
    ///
    /// # Errors
    /// [`DecodeError::Integer`] for anything else, including an empty value and overflow.
    pub fn integer(&self, name: &str) -> Result<Option<i64>, DecodeError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| DecodeError::Integer {
                    name: name.to_string(),
                    value: echo(v),
                }),
        }
    }

    /// A timestamp member: ISO-8601 with a zone (`Z` or an offset), with or without a fraction;
    /// a timestamp without a zone is read as UTC.
    ///
    /// # Errors
    /// [`DecodeError::Timestamp`] for anything else.
    pub fn timestamp(&self, name: &str) -> Result<Option<Timestamp>, DecodeError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
            return Ok(Some(t.with_timezone(&chrono::Utc)));
        }
        match chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f") {
            Ok(t) => Ok(Some(t.and_utc())),
            Err(_) => Err(DecodeError::Timestamp {
                name: name.to_string(),
                value: echo(v),
            }),
        }
    }

    /// A list of scalars, `Name.<member>.N`, in index order (gaps are closed up). `Name=` or no
    /// key at all is the empty list. Keys under `Name.` with another member name are not this
    /// list and are ignored, as unknown parameters are.
    ///
    /// # Errors
    /// [`DecodeError::ListKey`] for an index that is not a number in `1..=LIST_INDEX_MAX`, a
    /// repeated index, or a key with a field after the index.
    pub fn list(&self, name: &str, member: &str) -> Result<Vec<String>, DecodeError> {
        let prefix = format!("{name}.{member}.");
        let mut items: Vec<(usize, &str)> = Vec::new();
        for (key, value) in self.under(&prefix) {
            let rest = &key[prefix.len()..];
            if rest.contains('.') {
                return Err(list_key(
                    key,
                    "a list of values takes no field after the index",
                ));
            }
            items.push((index(key, rest)?, value.as_str()));
        }
        sorted_unique(&mut items, |(n, _)| *n)
            .map_err(|n| list_key(&format!("{prefix}{n}"), "the index is repeated"))?;
        Ok(items.into_iter().map(|(_, v)| v.to_string()).collect())
    }

    /// A list of structures, `Name.<member>.N.Field`: per index `N` (in index order), the map
    /// of `Field` → value. Nested members keep their full remaining key as `Field`
    /// (`PreferredAvailabilityZones.PreferredAvailabilityZone.2`).
    ///
    /// # Errors
    /// [`DecodeError::ListKey`] for a bad index or an index with no field.
    pub fn structures(&self, name: &str, member: &str) -> Result<Vec<Entry>, DecodeError> {
        let prefix = format!("{name}.{member}.");
        let mut items: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
        for (key, value) in self.under(&prefix) {
            let rest = &key[prefix.len()..];
            let Some((n, field)) = rest.split_once('.') else {
                return Err(list_key(
                    key,
                    "a list of structures needs a field after the index",
                ));
            };
            if field.is_empty() {
                return Err(list_key(
                    key,
                    "a list of structures needs a field after the index",
                ));
            }
            let n = index(key, n)?;
            items
                .entry(n)
                .or_default()
                .insert(field.to_string(), value.clone());
        }
        Ok(items.into_iter().collect())
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a String)> + 'a {
        self.map
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }
}

fn list_key(key: &str, reason: &'static str) -> DecodeError {
    DecodeError::ListKey {
        key: echo(key),
        reason,
    }
}

/// Parses a list index: decimal digits only, `1..=LIST_INDEX_MAX`.
fn index(key: &str, digits: &str) -> Result<usize, DecodeError> {
    let bad = || DecodeError::ListIndex {
        key: echo(key),
        max: LIST_INDEX_MAX,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match digits.parse::<usize>() {
        Ok(n) if (1..=LIST_INDEX_MAX).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// Sorts `items` by `key`; `Err(k)` names the first key that appears twice.
fn sorted_unique<T>(items: &mut [T], key: impl Fn(&T) -> usize) -> Result<(), usize> {
    items.sort_by_key(&key);
    match items.windows(2).find(|w| key(&w[0]) == key(&w[1])) {
        Some(w) => Err(key(&w[0])),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Params {
        Params::parse(None, text.as_bytes()).expect("parses")
    }

    // Goal: scalars are URL-decoded exactly as botocore encodes them (space as `+`, `:` as
    // `%3A`). Method: decode a captured-style body and read the values back.
    #[test]
    fn strings_are_url_decoded() {
        let p = body("Action=DescribeEvents&ReplicationGroupDescription=my+group&EndTime=2026-11-21T21%3A00%3A00Z&Plus=%2B");
        assert_eq!(
            p.string("ReplicationGroupDescription").as_deref(),
            Some("my group")
        );
        assert_eq!(p.get("EndTime"), Some("2026-11-21T21:00:00Z"));
        assert_eq!(p.get("Plus"), Some("+"));
        assert_eq!(p.string("Missing"), None);
        assert_eq!(body("Marker=").string("Marker").as_deref(), Some(""));
    }

    // Goal: the body overrides the query string, and both are read. Method: same key in both.
    #[test]
    fn query_string_and_body_merge() {
        let p = Params::parse(Some("Action=A&Version=2015-02-02"), b"Action=B").expect("parses");
        assert_eq!(p.get("Action"), Some("B"));
        assert_eq!(p.get("Version"), Some("2015-02-02"));
    }

    // Goal: booleans accept true/false only; anything else is an error naming the parameter.
    // Method: read valid and invalid spellings.
    #[test]
    fn booleans() {
        let p = body("A=true&B=false&C=TRUE&D=yes&E=&F=1");
        assert_eq!(p.boolean("A"), Ok(Some(true)));
        assert_eq!(p.boolean("B"), Ok(Some(false)));
        assert_eq!(p.boolean("C"), Ok(Some(true)));
        assert_eq!(p.boolean("Z"), Ok(None));
        for name in ["D", "E", "F"] {
            let err = p.boolean(name).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert!(
                err.to_string().starts_with("Invalid boolean value"),
                "{err}"
            );
        }
    }

    // Goal: integers are decimal i64; malformed or overflowing values are errors naming the
    // parameter. Method: read a range of spellings.
    #[test]
    fn integers() {
        let p = body("A=2&B=-1&C=%2B3&D=two&E=&F=99999999999999999999999&G=1.5&H=+2");
        assert_eq!(p.integer("A"), Ok(Some(2)));
        assert_eq!(p.integer("B"), Ok(Some(-1)));
        assert_eq!(p.integer("C"), Ok(Some(3)));
        for name in ["D", "E", "F", "G", "H"] {
            let err = p.integer(name).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    // Goal: timestamps in the two botocore forms (whole seconds, six-digit fraction), with an
    // offset, and without a zone. Method: parse each and compare with chrono values.
    #[test]
    fn timestamps() {
        let p = body(
            "A=2026-11-21T21%3A00%3A00Z&B=2026-11-21T21%3A00%3A00.250000Z&C=2026-11-21T22%3A00%3A00%2B01%3A00&D=2026-11-21T21%3A00%3A00&E=yesterday",
        );
        let base = chrono::DateTime::parse_from_rfc3339("2026-11-21T21:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(p.timestamp("A"), Ok(Some(base)));
        assert_eq!(
            p.timestamp("B"),
            Ok(Some(base + chrono::Duration::milliseconds(250)))
        );
        assert_eq!(p.timestamp("C"), Ok(Some(base)));
        assert_eq!(p.timestamp("D"), Ok(Some(base)));
        assert!(matches!(
            p.timestamp("E"),
            Err(DecodeError::Timestamp { .. })
        ));
    }

    // Goal: scalar lists use the model's member name, start at 1, come back in index order
    // (not key order: 10 sorts before 2 as text), and `Name=` is the empty list. Method: decode
    // each list named in the model that the edge reads.
    #[test]
    fn scalar_lists() {
        let p = body(
            "PreferredCacheClusterAZs.AvailabilityZone.1=us-east-1a&PreferredCacheClusterAZs.AvailabilityZone.2=us-east-1b\
             &SecurityGroupIds.SecurityGroupId.1=sg-1&CacheNodeIdsToReboot.CacheNodeId.1=0001\
             &ReplicasToRemove.member.1=g-002&TagKeys.member.1=k&SnapshotArns.SnapshotArn.1=arn%3Aaws%3As3%3A%3A%3Ab%2Fk.rdb\
             &CacheSecurityGroupNames.CacheSecurityGroupName.1=default&UserGroupIds.member.1=ug\
             &Big.member.10=ten&Big.member.2=two&Big.member.1=one&Empty=",
        );
        assert_eq!(
            p.list("PreferredCacheClusterAZs", "AvailabilityZone")
                .unwrap(),
            ["us-east-1a", "us-east-1b"]
        );
        assert_eq!(
            p.list("SecurityGroupIds", "SecurityGroupId").unwrap(),
            ["sg-1"]
        );
        assert_eq!(
            p.list("CacheNodeIdsToReboot", "CacheNodeId").unwrap(),
            ["0001"]
        );
        assert_eq!(p.list("ReplicasToRemove", "member").unwrap(), ["g-002"]);
        assert_eq!(p.list("TagKeys", "member").unwrap(), ["k"]);
        assert_eq!(
            p.list("SnapshotArns", "SnapshotArn").unwrap(),
            ["arn:aws:s3:::b/k.rdb"]
        );
        assert_eq!(
            p.list("CacheSecurityGroupNames", "CacheSecurityGroupName")
                .unwrap(),
            ["default"]
        );
        assert_eq!(p.list("UserGroupIds", "member").unwrap(), ["ug"]);
        assert_eq!(p.list("Big", "member").unwrap(), ["one", "two", "ten"]);
        assert!(p.list("Empty", "member").unwrap().is_empty());
        assert!(p.present("Empty"));
        assert!(p.list("Absent", "member").unwrap().is_empty());
        assert!(!p.present("Absent"));
        // Another member name is not this list (an unknown parameter, ignored).
        assert!(p.list("SecurityGroupIds", "member").unwrap().is_empty());
    }

    // Goal: gaps close up, while bad, zero, repeated and absurd indexes are refused without
    // allocating for them. Method: decode such keys; the absurd one would need ~4 G entries if
    // the decoder allocated by index.
    #[test]
    fn list_indexes_are_bounded() {
        let gaps = body("L.member.1=a&L.member.7=b");
        assert_eq!(gaps.list("L", "member").unwrap(), ["a", "b"]);
        for bad in [
            "L.member.0=x",
            "L.member.x=y",
            "L.member.=y",
            "L.member.4294967295=x",
            "L.member.1001=x",
            "L.member.999999999999999999999999=x",
            "L.member.-1=x",
        ] {
            let p = body(bad);
            assert!(
                matches!(
                    p.list("L", "member"),
                    Err(DecodeError::ListIndex {
                        max: LIST_INDEX_MAX,
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            body("L.member.1.Field=x").list("L", "member"),
            Err(DecodeError::ListKey { .. })
        ));
        let repeated = body("L.member.1=a&L.member.01=b");
        assert!(matches!(
            repeated.list("L", "member"),
            Err(DecodeError::ListKey { .. })
        ));
        assert_eq!(body("L.member.1000=x").list("L", "member").unwrap(), ["x"]);
    }

    // Goal: structure lists group fields by index, keep nested keys whole, and count entries.
    // Method: decode Tags and a nested NodeGroupConfiguration / ConfigureShard shape.
    #[test]
    fn structure_lists() {
        let p = body(
            "Tags.Tag.1.Key=env&Tags.Tag.1.Value=dev&Tags.Tag.2.Key=team\
             &NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaCount=2\
             &NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaAvailabilityZones.AvailabilityZone.2=us-east-1b\
             &ReplicaConfiguration.ConfigureShard.1.NodeGroupId=0001&Bad.member.3=x&Tags2.Tag.9999=x",
        );
        let tags = p.structures("Tags", "Tag").unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].0, 1);
        assert_eq!(tags[0].1.get("Key").map(String::as_str), Some("env"));
        assert_eq!(tags[0].1.get("Value").map(String::as_str), Some("dev"));
        assert_eq!(tags[1].1.get("Value"), None);
        let ngc = p
            .structures("NodeGroupConfiguration", "NodeGroupConfiguration")
            .unwrap();
        assert_eq!(ngc.len(), 2);
        assert!(ngc[1]
            .1
            .contains_key("ReplicaAvailabilityZones.AvailabilityZone.2"));
        assert_eq!(
            p.structures("ReplicaConfiguration", "ConfigureShard")
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            p.structures("Bad", "member"),
            Err(DecodeError::ListKey { .. })
        ));
        assert!(matches!(
            p.structures("Tags2", "Tag"),
            Err(DecodeError::ListKey { .. })
        ));
        assert!(matches!(
            body("T.m.0.Key=x").structures("T", "m"),
            Err(DecodeError::ListIndex { .. })
        ));
        assert!(body("Tags=").structures("Tags", "Tag").unwrap().is_empty());
    }

    // Goal: the number of parameters is bounded. Method: one pair past PARAMS_MAX.
    #[test]
    fn too_many_parameters() {
        let many: String = (0..=PARAMS_MAX).map(|i| format!("K{i}=v&")).collect();
        assert_eq!(
            Params::parse(None, many.as_bytes()),
            Err(DecodeError::TooManyParameters { max: PARAMS_MAX })
        );
        let exact: String = (0..PARAMS_MAX).map(|i| format!("K{i}=v&")).collect();
        assert!(Params::parse(None, exact.as_bytes()).is_ok());
    }

    // Goal: bytes that are not UTF-8 never panic. Method: decode invalid percent-escapes.
    #[test]
    fn invalid_utf8_is_replaced() {
        let p = body("A=%FF%FE&%C3=%&B=%zz");
        assert_eq!(p.get("A"), Some("\u{FFFD}\u{FFFD}"));
        assert_eq!(p.get("B"), Some("%zz"));
        // Echoed values are shortened.
        let long = format!("N={}", "9".repeat(10_000));
        let err = body(&long).integer("N").unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }
}
