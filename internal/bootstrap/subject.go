package bootstrap

import (
	"context"
	"fmt"
	"slices"

	"github.com/Nerzal/gocloak/v13"

	"github.com/registry-stack/registry-stack/internal/policy"
)

// Subject looks a user up in realm and returns what the policy sees of
// them: their group paths, their realm roles (composites included) and
// their client roles, as a token of theirs would carry them.
func (a *Admin) Subject(ctx context.Context, realm, username string) (policy.Subject, error) {
	kc, tok, err := a.Client(ctx)
	if err != nil {
		return policy.Subject{}, err
	}
	id, err := a.UserID(ctx, realm, username)
	if err != nil {
		return policy.Subject{}, err
	}
	s := policy.Subject{User: username}
	groups, err := kc.GetUserGroups(ctx, tok, realm, id, gocloak.GetGroupsParams{BriefRepresentation: gocloak.BoolP(false)})
	if err != nil {
		return policy.Subject{}, fmt.Errorf("groups of user %q: %w", username, err)
	}
	for _, g := range groups {
		if g.Path != nil {
			s.Groups = append(s.Groups, *g.Path)
		}
	}
	roles, err := kc.GetCompositeRealmRolesByUserID(ctx, tok, realm, id)
	if err != nil {
		return policy.Subject{}, fmt.Errorf("realm roles of user %q: %w", username, err)
	}
	for _, r := range roles {
		if r.Name != nil {
			s.RealmRoles = append(s.RealmRoles, *r.Name)
		}
	}
	mappings, err := kc.GetRoleMappingByUserID(ctx, tok, realm, id)
	if err != nil {
		return policy.Subject{}, fmt.Errorf("client roles of user %q: %w", username, err)
	}
	for _, cm := range mappings.ClientMappings {
		if cm == nil || cm.Client == nil || cm.Mappings == nil {
			continue
		}
		for _, r := range *cm.Mappings {
			if r.Name != nil {
				if s.ClientRoles == nil {
					s.ClientRoles = map[string][]string{}
				}
				s.ClientRoles[*cm.Client] = append(s.ClientRoles[*cm.Client], *r.Name)
			}
		}
	}
	slices.Sort(s.Groups)
	slices.Sort(s.RealmRoles)
	return s, nil
}
