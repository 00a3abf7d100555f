//! The keys a table of our TOML format accepts, read from the model the file is deserialised
//! into, so that the list never falls behind the model.
use std::cell::Cell;

use serde::de::{self, value, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;

type Found = Cell<Option<&'static [&'static str]>>;

/// The field names of the table at `path` (`["sip", "limits"]`) of the model `T`; `None`
/// when `path` does not lead to a table.
pub(super) fn keys_of<'de, T: Deserialize<'de>>(path: &[&str]) -> Option<&'static [&'static str]> {
    let found = Cell::new(None);
    let _ = T::deserialize(Probe {
        path,
        found: &found,
    });
    found.get()
}

/// A deserializer that walks down `path` and, at its end, records the fields of the
/// struct asked for there; it produces no value.
struct Probe<'a> {
    path: &'a [&'a str],
    found: &'a Found,
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, value::Error> {
        Err(de::Error::custom("not a table"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, value::Error> {
        match self.path.split_first() {
            None => {
                self.found.set(Some(fields));
                Err(de::Error::custom("found"))
            }
            Some((key, rest)) => visitor.visit_map(Entry {
                key: Some(key),
                value: Some(Probe {
                    path: rest,
                    found: self.found,
                }),
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, value::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, value::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A map of one entry: the next key of the path, and the probe for the rest.
struct Entry<'a> {
    key: Option<&'a str>,
    value: Option<Probe<'a>>,
}

impl<'de> MapAccess<'de> for Entry<'_> {
    type Error = value::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, value::Error> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, value::Error> {
        match self.value.take() {
            Some(probe) => seed.deserialize(probe),
            None => Err(de::Error::custom("no value")),
        }
    }
}

/// Levenshtein distance, for short keys.
pub(in crate::config) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
