//! One change to a JSON answer, chosen by a seed: how the fuzz tests corrupt Intercom's answers
//! (`FaultKind::Mutated`). The same seed always makes the same change to the same answer.

use serde_json::{Value, json};

use crate::Rng;

/// Changes one value of `answer`, found by walking down from the top with `seed`'s choices:
/// replaced by a value of another type, or removed from its object. Returns where, as a JSON
/// pointer (`/data/3/updated_at`), so that a test can tell what the answer lost.
pub fn one_change(answer: &mut Value, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut at = answer;
    let mut path = String::new();
    // Go down a few levels at most, stopping at a leaf or by chance.
    for _ in 0..6 {
        let children = match &*at {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        if children == 0 || rng.chance(20) {
            break;
        }
        let pick = usize::try_from(rng.below(children as u64)).unwrap_or(0);
        let removable = matches!(at, Value::Object(_)) && rng.chance(15);
        if removable {
            if let Value::Object(map) = at {
                if let Some(key) = map.keys().nth(pick).cloned() {
                    map.remove(&key);
                    path = format!("{path}/{key}");
                }
            }
            return path;
        }
        at = match at {
            Value::Object(map) => {
                let (key, value) = map.iter_mut().nth(pick).expect("picked below the length");
                path = format!("{path}/{key}");
                value
            }
            Value::Array(items) => {
                path = format!("{path}/{pick}");
                &mut items[pick]
            }
            _ => unreachable!("only objects and arrays have children"),
        };
    }
    *at = replacement(&mut rng, at);
    path
}

/// A value unlike `old`: another type, or an edge of the same type.
fn replacement(rng: &mut Rng, old: &Value) -> Value {
    let candidates = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(-31_536_000),
        json!(1.5),
        json!(i64::MAX),
        json!(""),
        json!("not a date"),
        json!("2024-01-01T00:00:00Z"),
        json!([]),
        json!({}),
        json!([1, "two", null]),
        json!({"type": "list", "data": {"id": "1"}}),
        json!("\u{0}\u{1F600}\r\n"),
    ];
    loop {
        let candidate = rng.pick(&candidates);
        if candidate != old {
            return candidate.clone();
        }
    }
}
