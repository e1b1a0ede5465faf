// Package policy decides who may pull, push and delete which repository when
// registry-stack issues registry tokens itself (auth mode "oidc").
//
// # Who may do what
//
// The policy is the `policy:` section of the config file:
//
//	policy:
//	  admins: ["role:registry-admin"]      # everything, everywhere, and the catalog
//	  catalog: [anonymous, authenticated]  # who may list repositories (the default)
//	  repositories:
//	    "team-a/**":
//	      - who: ["group:/team-a"]
//	        actions: [pull, push, delete]
//	    "public/**":
//	      - who: [anonymous, authenticated]
//	        actions: [pull]
//	      - who: ["group:team-a"]
//	        actions: [push]
//	    "${user}/**":
//	      - who: [authenticated]
//	        actions: [pull, push, delete]
//
// Anything the policy does not grant is denied.
//
// Subjects, the entries of `admins`, `catalog` and `who`:
//
//   - anonymous: a request without credentials. It matches nothing else.
//   - authenticated: any signed-in user or robot.
//   - user:NAME: the Keycloak user NAME (its preferred_username, always lower
//     case). A robot is the service-account user of its client:
//     user:service-account-ci-robot for the client ci-robot.
//   - group:/PATH: members of the group with that full path AND of all its
//     subgroups; group:/team-a covers /team-a/dev. Keycloak lists only direct
//     memberships, so this is how a parent group's rule reaches subgroup
//     members. Needs "Full group path" on in the group mapper.
//   - group:NAME (no slash): members of any group whose last path segment is
//     NAME: group:team-a matches /team-a and /org/team-a, not /team-a/dev.
//   - role:NAME: holders of the realm role NAME.
//   - client-role:CLIENT/NAME: holders of the role NAME of client CLIENT
//     (split at the last '/', so a client id may be a URL).
//
// Actions: pull, push, delete, and * for all three. Granting push does not
// imply pull, as in distribution itself: docker push checks whether layers
// already exist, so pushers usually need [pull, push].
//
// # Repository patterns
//
// Patterns are matched against the whole repository name, segment by
// segment ('/' separates segments):
//
//   - * matches any characters within one segment: team-a/* matches
//     team-a/app, not team-a/app/x.
//   - ** as a whole segment matches any number of segments, none included:
//     team-a/** matches team-a/app and team-a/app/x, and team-a itself, so
//     that a team's namespace rule also covers a repository named after the
//     team (zot, whose users know this syntax, does the same). ** alone
//     matches every repository. ** inside a segment (a**) is an error.
//   - ? matches one character other than '/'.
//   - Everything else matches itself; patterns are written with the
//     characters of repository names: a-z 0-9 . _ - and /.
//
// Placeholders are replaced before matching, for the subject asking:
//
//   - ${user}: the subject's user name; "${user}/**" gives everyone a
//     namespace of their own. Anonymous requests never match it.
//   - ${group}: each of the subject's group names (last path segments); the
//     pattern matches if it matches for any of them.
//
// A replaced value is matched literally: a name with *, ? or / in it, or
// with upper case, is never a valid path component, and such a value makes
// its pattern match nothing rather than something wider.
//
// # How a request is decided
//
//  1. A subject matching an entry of admins may do everything.
//  2. Otherwise only the most specific pattern that matches the repository
//     counts: the one with the most characters that are not wildcards (a
//     placeholder counts as the characters of its value); on a tie the one
//     with more segments; then the one with fewer placeholders (a name spelled
//     out beats the same name from a placeholder); then the pattern that sorts
//     first.
//  3. The subject gets the union of the actions of that pattern's grants
//     whose who it matches. Grants of other, broader patterns do not add to
//     it: "public/internal/**": [] denies everyone but admins there, whatever
//     "public/**" says.
//  4. No matching pattern: denied.
//
// Why "most specific wins" rather than first match or the union of all
// matches: the answer never depends on the order of the rules, adding a
// rule for a narrower namespace never changes what a broader rule means
// anywhere else, and it is the rule zot users already know.
//
// The catalog lists only the repositories the caller may pull; the catalog
// setting decides who may call it at all. Admins always may; `catalog: []`
// leaves it to them.
//
// `registry-stack policy explain` prints the deciding rule for a subject and
// repository, e.g. `repositories["public/**"][1] (who group:team-a, actions
// push)`, `repositories["team-b/**"]: no grant for this subject` or `no rule
// matches "x/y" (default deny)`.
package policy
