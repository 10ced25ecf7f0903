//! Page hooks: the world changes between page K and page K+1 of a named list, as it does on a
//! real provider while a client reads an offset-paged list (someone leaves, a repository is
//! created), so everyone after the change shifts one place and the next page starts elsewhere.
//!
//! A hook is generic: a path glob (as in [`super::FaultRule`]), the page after which it fires,
//! and a closure the provider module supplies (it applies one of its mutations to its world).
//! It fires once, after the matching page's answer has been built and before it is sent, so the
//! client's next request already sees the changed world. What it did is kept for the test to
//! assert ([`super::Infra::page_hooks_fired`]): a hook that never fired proves nothing.

use super::faults::glob_match;

/// What a hook does to the world; `Err` says why the change was refused.
pub type HookAction = Box<dyn FnOnce() -> Result<(), String> + Send>;

pub(crate) struct PageHook {
    pub path: String,
    pub after_page: usize,
    pub label: String,
    pub action: HookAction,
}

impl PageHook {
    /// A glob with a `?` is matched against `path?query` (to tell `?role=admin` from the
    /// plain list), any other against the path alone.
    pub(crate) fn matches(&self, path: &str, query: Option<&str>, page: usize) -> bool {
        if page != self.after_page {
            return false;
        }
        if self.path.contains('?') {
            let full = format!("{path}?{}", query.unwrap_or(""));
            glob_match(self.path.as_bytes(), full.as_bytes())
        } else {
            glob_match(self.path.as_bytes(), path.as_bytes())
        }
    }
}

/// A hook that fired: which list, after which page, and what became of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredHook {
    /// The glob the hook was armed with.
    pub path: String,
    /// The page (1-based) after which it fired.
    pub after_page: usize,
    /// The label given when arming it.
    pub label: String,
    /// What the hook's action returned: `Err` with the reason when the change was rejected.
    pub result: Result<(), String>,
}

/// The `page` parameter of a query string (1 when absent or unreadable, as GitHub and GitLab
/// read it).
pub(crate) fn page_of(query: Option<&str>) -> usize {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("page="))
        .filter_map(|v| v.parse::<usize>().ok())
        .find(|p| *p >= 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::page_of;

    #[test]
    fn the_page_parameter_defaults_to_one() {
        assert_eq!(page_of(None), 1);
        assert_eq!(page_of(Some("per_page=100")), 1);
        assert_eq!(page_of(Some("per_page=100&page=3")), 3);
        assert_eq!(page_of(Some("per_page=100&page=0")), 1);
    }
}
