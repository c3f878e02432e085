//! Pages of the tasks a requester posted, by id: the cursor behind MCP
//! `tasks/list` (2025-11-25), which must reach every task `tasks/get`
//! shows its caller, however many there are. `get_tasks` shows the newest
//! 100 only; this adds nothing to the task rules, it only lists ids.

use rusqlite::params;

use super::{Caller, Store};
use crate::error::Result;

impl Store {
    /// Ids of the tasks the caller posted, newest first: those below
    /// `before` (exclusive) when given, at most `limit`. Read them with
    /// [`Store::get_task`].
    ///
    /// Errors: [`crate::ErrorCode::AuthFailed`].
    pub fn posted_task_ids(&self, caller: Caller<'_>, before: Option<i64>, limit: u32) -> Result<Vec<i64>> {
        self.read_as(caller, |c, _| {
            let ids = c
                .prepare_cached(
                    "SELECT id FROM tasks WHERE requester = ?1 AND (?2 IS NULL OR id < ?2)
                     ORDER BY id DESC LIMIT ?3",
                )?
                .query_map(params![caller.agent, before, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tasks::NewTask;
    use crate::store::tests::{T, caller, store};

    #[test]
    fn pages_walk_back_through_the_callers_own_tasks_only() {
        let (_d, s, _c) = store();
        for name in ["boss", "other", "w1"] {
            s.bind_agent(name, None, Some(&["tasks".to_owned()]), T).unwrap();
        }
        let post = |who: &str| {
            let new = NewTask {
                to: Some("w1".into()),
                title: "t".into(),
                description: "d".into(),
                ..NewTask::default()
            };
            s.post_task(caller(who), &new).unwrap().task.id
        };
        let mine: Vec<i64> = (0..5).map(|_| post("boss")).collect();
        post("other");
        let first = s.posted_task_ids(caller("boss"), None, 3).unwrap();
        assert_eq!(first, [mine[4], mine[3], mine[2]]);
        let rest = s.posted_task_ids(caller("boss"), Some(mine[2]), 3).unwrap();
        assert_eq!(rest, [mine[1], mine[0]]);
        assert!(s.posted_task_ids(caller("w1"), None, 3).unwrap().is_empty());
    }
}
