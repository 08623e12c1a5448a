//! Canned answers instead of the wire, for unit tests of the streams and the paging engine: a
//! function from the request to Intercom's answer, and a log of what was asked.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::http::{Answer, Method, RateHeaders, Transport, WireError};

/// One request as the canned Intercom saw it.
#[derive(Debug, Clone)]
pub struct Asked {
    pub method: &'static str,
    /// Path and query, without the base URL.
    pub target: String,
    pub body: Option<Value>,
}

impl Asked {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    /// A query parameter as sent (not decoded).
    pub fn query(&self, key: &str) -> Option<&str> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }
}

type Reply = dyn Fn(&Asked) -> (u16, Value) + Send + Sync;

/// A transport that answers with `reply` and remembers every request.
#[derive(Clone)]
pub struct Canned {
    reply: Arc<Reply>,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl Canned {
    pub fn new(reply: impl Fn(&Asked) -> (u16, Value) + Send + Sync + 'static) -> Canned {
        Canned {
            reply: Arc::new(reply),
            asked: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Every request so far.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Transport for Canned {
    fn send(
        &self,
        method: Method,
        url: &str,
        _headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, WireError> {
        let target = url.find("://").map_or(url, |i| {
            let rest = &url[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        });
        let asked = Asked {
            method: method.as_str(),
            target: target.to_owned(),
            body: body.and_then(|b| serde_json::from_slice(b).ok()),
        };
        let (status, value) = (self.reply)(&asked);
        self.asked.lock().unwrap_or_else(PoisonError::into_inner).push(asked);
        Ok(Answer {
            status,
            rate: RateHeaders::default(),
            body: Ok(serde_json::to_vec(&value).unwrap_or_default()),
        })
    }
}
