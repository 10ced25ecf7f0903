//! Builds the JSON objects of [`super::json`] from scenario data, with URLs under the server's
//! own base so a client that follows them stays on the simulator.

use super::json::*;
use crate::scenario::{GithubOrg, GithubRepo, GithubTeam, GithubUser};
use base64::Engine;
use orgsync_core::{Permission, Visibility};

const CREATED: &str = "2020-01-01T00:00:00Z";

/// GitHub's legacy node ids are base64 of `"<len><Type><id>"`-like strings; any stable opaque
/// string does for clients, so this keeps the look without the exact encoding.
fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{kind}{id}"))
}

pub fn simple_user(base: &str, u: &GithubUser) -> SimpleUser {
    let url = format!("{base}/users/{}", u.login);
    SimpleUser {
        login: u.login.clone(),
        id: u.id,
        node_id: node_id("User", u.id),
        avatar_url: format!("{base}/avatars/u/{}", u.id),
        gravatar_id: Some(String::new()),
        html_url: format!("{base}/{}", u.login),
        followers_url: format!("{url}/followers"),
        following_url: format!("{url}/following{{/other_user}}"),
        gists_url: format!("{url}/gists{{/gist_id}}"),
        starred_url: format!("{url}/starred{{/owner}}{{/repo}}"),
        subscriptions_url: format!("{url}/subscriptions"),
        organizations_url: format!("{url}/orgs"),
        repos_url: format!("{url}/repos"),
        events_url: format!("{url}/events{{/privacy}}"),
        received_events_url: format!("{url}/received_events"),
        kind: if u.bot { "Bot" } else { "User" }.to_string(),
        site_admin: u.site_admin,
        name: None,
        email: None,
        url,
    }
}

/// The organisation as the `owner` of its repositories (a simple-user of type Organization).
pub fn org_as_owner(base: &str, org: &GithubOrg) -> SimpleUser {
    let mut owner = simple_user(
        base,
        &GithubUser {
            id: org.id,
            login: org.login.clone(),
            name: None,
            email: None,
            suspended: false,
            bot: false,
            site_admin: false,
        },
    );
    owner.kind = "Organization".to_string();
    owner.node_id = node_id("Organization", org.id);
    owner
}

pub fn org_simple(base: &str, org: &GithubOrg) -> OrganizationSimple {
    let url = format!("{base}/orgs/{}", org.login);
    OrganizationSimple {
        login: org.login.clone(),
        id: org.id,
        node_id: node_id("Organization", org.id),
        repos_url: format!("{url}/repos"),
        events_url: format!("{url}/events"),
        hooks_url: format!("{url}/hooks"),
        issues_url: format!("{url}/issues"),
        members_url: format!("{url}/members{{/member}}"),
        public_members_url: format!("{url}/public_members{{/member}}"),
        avatar_url: format!("{base}/avatars/o/{}", org.id),
        description: org.name.clone(),
        url,
    }
}

pub fn org_full(base: &str, org: &GithubOrg) -> OrganizationFull {
    let public = org
        .repos
        .iter()
        .filter(|r| r.visibility == Visibility::Public)
        .count() as u64;
    OrganizationFull {
        simple: org_simple(base, org),
        name: org.name.clone(),
        html_url: format!("{base}/{}", org.login),
        has_organization_projects: true,
        has_repository_projects: true,
        public_repos: public,
        public_gists: 0,
        followers: 0,
        following: 0,
        kind: "Organization".to_string(),
        created_at: CREATED.to_string(),
        updated_at: CREATED.to_string(),
        archived_at: None,
        default_repository_permission: Some(org.default_repository_permission.as_str().to_string()),
        total_private_repos: Some(org.repos.len() as u64 - public),
        owned_private_repos: Some(org.repos.len() as u64 - public),
    }
}

/// GitHub's legacy team `permission` field and repository `role_name` use these names.
pub fn role_name(p: Permission) -> &'static str {
    p.as_str()
}

/// The legacy `permission` of a team or a repository grant: `pull`, `triage`, `push`,
/// `maintain`, `admin`.
pub fn legacy_permission(p: Permission) -> &'static str {
    match p {
        Permission::None | Permission::Read => "pull",
        Permission::Triage => "triage",
        Permission::Write => "push",
        Permission::Maintain => "maintain",
        Permission::Admin => "admin",
    }
}

fn team_simple(base: &str, org: &GithubOrg, t: &GithubTeam) -> TeamSimple {
    let url = format!("{base}/organizations/{}/team/{}", org.id, t.id);
    TeamSimple {
        id: t.id,
        node_id: node_id("Team", t.id),
        members_url: format!("{url}/members{{/member}}"),
        name: t.name.clone(),
        description: t.description.clone(),
        permission: "pull".to_string(),
        privacy: Some(t.privacy.as_str().to_string()),
        notification_setting: Some("notifications_enabled".to_string()),
        html_url: format!("{base}/orgs/{}/teams/{}", org.login, t.slug),
        repositories_url: format!("{url}/repos"),
        slug: t.slug.clone(),
        kind: "organization".to_string(),
        url,
    }
}

/// A `team`; `grant` is the team's permission on a repository when listed for one.
pub fn team(base: &str, org: &GithubOrg, t: &GithubTeam, grant: Option<Permission>) -> Team {
    let simple = team_simple(base, org, t);
    let parent = t
        .parent
        .as_deref()
        .and_then(|slug| org.team(slug))
        .map(|p| team_simple(base, org, p));
    Team {
        id: simple.id,
        node_id: simple.node_id,
        url: simple.url,
        html_url: simple.html_url,
        name: simple.name,
        slug: simple.slug,
        description: simple.description,
        privacy: simple.privacy,
        notification_setting: simple.notification_setting,
        permission: grant.map_or("pull", legacy_permission).to_string(),
        permissions: grant.map(Permissions::from_permission),
        members_url: simple.members_url,
        repositories_url: simple.repositories_url,
        parent,
        kind: "organization".to_string(),
        organization_id: Some(org.id),
    }
}

/// A `minimal-repository`; `grant` fills `permissions` and `role_name` when known.
pub fn repository(
    base: &str,
    org: &GithubOrg,
    r: &GithubRepo,
    grant: Option<Permission>,
) -> MinimalRepository {
    let full_name = format!("{}/{}", org.login, r.name);
    let url = format!("{base}/repos/{full_name}");
    let u = |suffix: &str| format!("{url}/{suffix}");
    MinimalRepository {
        id: r.id,
        node_id: node_id("Repository", r.id),
        name: r.name.clone(),
        owner: org_as_owner(base, org),
        private: r.visibility != Visibility::Public,
        html_url: format!("{base}/{full_name}"),
        description: r.description.clone(),
        fork: r.fork,
        archive_url: u("{archive_format}{/ref}"),
        assignees_url: u("assignees{/user}"),
        blobs_url: u("git/blobs{/sha}"),
        branches_url: u("branches{/branch}"),
        collaborators_url: u("collaborators{/collaborator}"),
        comments_url: u("comments{/number}"),
        commits_url: u("commits{/sha}"),
        compare_url: u("compare/{base}...{head}"),
        contents_url: u("contents/{+path}"),
        contributors_url: u("contributors"),
        deployments_url: u("deployments"),
        downloads_url: u("downloads"),
        events_url: u("events"),
        forks_url: u("forks"),
        git_commits_url: u("git/commits{/sha}"),
        git_refs_url: u("git/refs{/sha}"),
        git_tags_url: u("git/tags{/sha}"),
        issue_comment_url: u("issues/comments{/number}"),
        issue_events_url: u("issues/events{/number}"),
        issues_url: u("issues{/number}"),
        keys_url: u("keys{/key_id}"),
        labels_url: u("labels{/name}"),
        languages_url: u("languages"),
        merges_url: u("merges"),
        milestones_url: u("milestones{/number}"),
        notifications_url: u("notifications{?since,all,participating}"),
        pulls_url: u("pulls{/number}"),
        releases_url: u("releases{/id}"),
        stargazers_url: u("stargazers"),
        statuses_url: u("statuses/{sha}"),
        subscribers_url: u("subscribers"),
        subscription_url: u("subscription"),
        tags_url: u("tags"),
        teams_url: u("teams"),
        trees_url: u("git/trees{/sha}"),
        hooks_url: u("hooks"),
        archived: Some(r.archived),
        disabled: Some(false),
        visibility: Some(
            match r.visibility {
                Visibility::Public => "public",
                Visibility::Internal => "internal",
                Visibility::Private => "private",
            }
            .to_string(),
        ),
        permissions: grant.map(Permissions::from_permission),
        role_name: grant.map(|g| role_name(g).to_string()),
        full_name,
        url,
    }
}

/// The repository object of webhook payloads: a minimal repository plus the fields the
/// webhook schemas require on top (clone URLs, counters, feature flags, timestamps).
pub fn webhook_repository(base: &str, org: &GithubOrg, r: &GithubRepo) -> serde_json::Value {
    let mut value = serde_json::to_value(repository(base, org, r, None)).unwrap_or_default();
    let host = base
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let full_name = format!("{}/{}", org.login, r.name);
    let extra = serde_json::json!({
        "clone_url": format!("{base}/{full_name}.git"),
        "git_url": format!("git://{host}/{full_name}.git"),
        "ssh_url": format!("git@{host}:{full_name}.git"),
        "svn_url": format!("{base}/{full_name}"),
        "mirror_url": null,
        "homepage": null,
        "language": null,
        "license": null,
        "topics": [],
        "default_branch": "main",
        "forks": 0,
        "forks_count": 0,
        "open_issues": 0,
        "open_issues_count": 0,
        "size": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "has_downloads": true,
        "has_issues": true,
        "has_projects": true,
        "has_wiki": true,
        "has_pages": false,
        "created_at": CREATED,
        "updated_at": CREATED,
        "pushed_at": CREATED,
    });
    if let (Some(map), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    value
}
