package auth

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// AdminRole is the global admin role: its holders pass every check.
const AdminRole = "ROLE_ADMIN"

// AdminUser is the user the first-admin API creates, as in Nacos.
const AdminUser = "nacos"

// User is a stored user. Password is the bcrypt hash.
type User struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// RoleBinding gives Username the role Role.
type RoleBinding struct {
	Role     string `json:"role"`
	Username string `json:"username"`
}

// Permission lets Role do Action ("r", "w" or "rw") on the resources
// matching Resource ("namespaceId:group:naming/service", "*" wildcards).
type Permission struct {
	Role     string `json:"role"`
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// Page is one page of a listing, in Nacos's Page JSON shape.
type Page[T any] struct {
	TotalCount     int `json:"totalCount"`
	PageNumber     int `json:"pageNumber"`
	PagesAvailable int `json:"pagesAvailable"`
	PageItems      []T `json:"pageItems"`
}

// state is the whole store content, also the file format.
type state struct {
	Users       []User        `json:"users"`
	Roles       []RoleBinding `json:"roles"`
	Permissions []Permission  `json:"permissions"`
}

func (s *state) clone() *state {
	return &state{Users: slices.Clone(s.Users), Roles: slices.Clone(s.Roles), Permissions: slices.Clone(s.Permissions)}
}

// Store holds users, role bindings and permissions, in memory and in a
// JSON file. It is safe for concurrent use; reads never touch the disk.
type Store struct {
	path string
	cost int

	mu sync.RWMutex
	st *state

	// verified caches successful password checks, keyed by a SHA-256 of
	// user and password, holding the hash they matched: clients that send
	// username and password on every request (the Node.js client) would
	// otherwise cost a bcrypt comparison each. An entry counts only while
	// the user's hash is unchanged.
	vmu      sync.Mutex
	verified map[[32]byte]string
}

// maxVerified bounds the password-check cache; it is emptied when full.
const maxVerified = 4096

// OpenStore loads the store from path, or starts empty when the file does
// not exist yet (it is created by the first change). cost is the bcrypt
// cost of new password hashes (bcrypt.DefaultCost when 0). An empty path
// keeps the store in memory only.
func OpenStore(path string, cost int) (*Store, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	s := &Store{path: path, cost: cost, st: &state{}, verified: map[[32]byte]string{}}
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("auth: read user file: %w", err)
	}
	if err := json.Unmarshal(data, s.st); err != nil {
		return nil, fmt.Errorf("auth: user file %s: %w", path, err)
	}
	return s, nil
}

// update applies fn to a copy of the state, saves it, and only then makes
// it current, so a failed write changes nothing.
func (s *Store) update(fn func(st *state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.st.clone()
	if err := fn(next); err != nil {
		return err
	}
	if err := s.save(next); err != nil {
		return err
	}
	s.st = next
	return nil
}

// save writes st to the file atomically: a temporary file in the same
// directory, fsynced, renamed over the old one.
func (s *Store) save(st *state) error {
	if s.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("auth: encode user file: %w", err)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("auth: user file directory: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("auth: write user file: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("auth: write user file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func (st *state) user(name string) int {
	return slices.IndexFunc(st.Users, func(u User) bool { return u.Username == name })
}

func (st *state) hasRole(user, role string) bool {
	return slices.Contains(st.Roles, RoleBinding{Role: role, Username: user})
}

func (st *state) hasAdmin() bool {
	return slices.ContainsFunc(st.Roles, func(r RoleBinding) bool { return r.Role == AdminRole })
}

func (s *Store) hash(password string) (string, error) {
	if password == "" {
		return "", detail(ErrInvalid, "password is empty")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		// bcrypt refuses passwords over 72 bytes.
		return "", detail(ErrInvalid, err.Error())
	}
	return string(h), nil
}

// CreateUser adds a user with a password.
func (s *Store) CreateUser(name, password string) error {
	if strings.TrimSpace(name) == "" {
		return detail(ErrInvalid, "username is empty")
	}
	h, err := s.hash(password)
	if err != nil {
		return err
	}
	return s.update(func(st *state) error {
		if st.user(name) >= 0 {
			return detail(ErrUserExists, "user '"+name+"' already exist!")
		}
		st.Users = append(st.Users, User{Username: name, Password: h})
		return nil
	})
}

// CreateAdmin creates the admin user "nacos" with password and binds it to
// ROLE_ADMIN, unless some user already holds ROLE_ADMIN (ErrAdminExists).
// An existing non-admin "nacos" user gets the new password.
func (s *Store) CreateAdmin(password string) error {
	h, err := s.hash(password)
	if err != nil {
		return err
	}
	return s.update(func(st *state) error {
		if st.hasAdmin() {
			return detail(ErrAdminExists, "have admin user cannot use it")
		}
		if i := st.user(AdminUser); i >= 0 {
			st.Users[i].Password = h
		} else {
			st.Users = append(st.Users, User{Username: AdminUser, Password: h})
		}
		st.Roles = append(st.Roles, RoleBinding{Role: AdminRole, Username: AdminUser})
		return nil
	})
}

// DeleteUser removes a user and its role bindings. An admin cannot be
// deleted.
func (s *Store) DeleteUser(name string) error {
	return s.update(func(st *state) error {
		if st.hasRole(name, AdminRole) {
			return detail(ErrAdminRole, "cannot delete admin: "+name)
		}
		i := st.user(name)
		if i < 0 {
			return detail(ErrNoUser, "user "+name+" not exist!")
		}
		st.Users = slices.Delete(st.Users, i, i+1)
		st.Roles = slices.DeleteFunc(st.Roles, func(r RoleBinding) bool { return r.Username == name })
		return nil
	})
}

// SetPassword replaces a user's password.
func (s *Store) SetPassword(name, password string) error {
	h, err := s.hash(password)
	if err != nil {
		return err
	}
	return s.update(func(st *state) error {
		i := st.user(name)
		if i < 0 {
			return detail(ErrNoUser, "user "+name+" not exist!")
		}
		st.Users[i].Password = h
		return nil
	})
}

// CheckPassword returns nil when name exists and password is its
// password, ErrUserNotFound otherwise (Nacos does not tell which).
func (s *Store) CheckPassword(name, password string) error {
	if strings.TrimSpace(name) == "" || password == "" {
		return ErrUserNotFound
	}
	s.mu.RLock()
	i := s.st.user(name)
	var h string
	if i >= 0 {
		h = s.st.Users[i].Password
	}
	s.mu.RUnlock()
	if i < 0 {
		return ErrUserNotFound
	}
	key := sha256.Sum256([]byte(name + "\x00" + password))
	s.vmu.Lock()
	hit := s.verified[key] == h
	s.vmu.Unlock()
	if hit {
		return nil
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) != nil {
		return ErrUserNotFound
	}
	s.vmu.Lock()
	if len(s.verified) >= maxVerified {
		clear(s.verified)
	}
	s.verified[key] = h
	s.vmu.Unlock()
	return nil
}

// AddRole binds user to role. ROLE_ADMIN cannot be granted this way.
// Adding an existing binding is a no-op.
func (s *Store) AddRole(role, user string) error {
	if strings.TrimSpace(role) == "" {
		return detail(ErrInvalid, "role is empty")
	}
	return s.update(func(st *state) error {
		if st.user(user) < 0 {
			return detail(ErrNoUser, "user '"+user+"' not found!")
		}
		if role == AdminRole {
			return detail(ErrAdminRole, "role '"+AdminRole+"' is not permitted to create!")
		}
		if !st.hasRole(user, role) {
			st.Roles = append(st.Roles, RoleBinding{Role: role, Username: user})
		}
		return nil
	})
}

// DeleteRole removes the binding of user to role, or every binding of
// role when user is empty. ROLE_ADMIN bindings cannot be removed, so the
// admin cannot lock everyone out.
func (s *Store) DeleteRole(role, user string) error {
	if role == AdminRole {
		return detail(ErrAdminRole, "role '"+AdminRole+"' cannot be deleted")
	}
	return s.update(func(st *state) error {
		st.Roles = slices.DeleteFunc(st.Roles, func(r RoleBinding) bool {
			return r.Role == role && (user == "" || r.Username == user)
		})
		return nil
	})
}

// ValidAction reports whether a is a permission action: r, w or rw.
func ValidAction(a string) bool { return a == "r" || a == "w" || a == "rw" }

// AddPermission lets role do action on resource. The role must have a
// member. Adding an existing permission is a no-op.
func (s *Store) AddPermission(role, resource, action string) error {
	if strings.TrimSpace(resource) == "" {
		return detail(ErrInvalid, "resource is empty")
	}
	if !ValidAction(action) {
		return detail(ErrInvalid, "action '"+action+"' is not r, w or rw")
	}
	return s.update(func(st *state) error {
		if !slices.ContainsFunc(st.Roles, func(r RoleBinding) bool { return r.Role == role }) {
			return detail(ErrNoRole, "role "+role+" not found!")
		}
		p := Permission{Role: role, Resource: resource, Action: action}
		if !slices.Contains(st.Permissions, p) {
			st.Permissions = append(st.Permissions, p)
		}
		return nil
	})
}

// DeletePermission removes one permission; a missing one is a no-op.
func (s *Store) DeletePermission(role, resource, action string) error {
	return s.update(func(st *state) error {
		st.Permissions = slices.DeleteFunc(st.Permissions, func(p Permission) bool {
			return p == Permission{Role: role, Resource: resource, Action: action}
		})
		return nil
	})
}

// HasAdmin reports whether some user holds ROLE_ADMIN.
func (s *Store) HasAdmin() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.hasAdmin()
}

// IsAdmin reports whether user holds ROLE_ADMIN.
func (s *Store) IsAdmin(user string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.hasRole(user, AdminRole)
}

// match reports whether value matches a filter: exact (accurate) or
// substring (blur); an empty filter matches everything.
func match(filter, value string, blur bool) bool {
	if filter == "" {
		return true
	}
	if blur {
		return strings.Contains(value, filter)
	}
	return filter == value
}

// Users lists users by name (exact, or substring when blur), sorted, one
// page (1-based). Password hashes are left out.
func (s *Store) Users(name string, blur bool, pageNo, pageSize int) Page[User] {
	s.mu.RLock()
	var all []User
	for _, u := range s.st.Users {
		if match(name, u.Username, blur) {
			all = append(all, User{Username: u.Username})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	return paginate(all, pageNo, pageSize)
}

// Roles lists role bindings filtered by user and role, sorted, one page.
func (s *Store) Roles(user, role string, blur bool, pageNo, pageSize int) Page[RoleBinding] {
	s.mu.RLock()
	var all []RoleBinding
	for _, r := range s.st.Roles {
		if match(user, r.Username, blur) && match(role, r.Role, blur) {
			all = append(all, r)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b RoleBinding) int {
		return strings.Compare(a.Role+"\x00"+a.Username, b.Role+"\x00"+b.Username)
	})
	return paginate(all, pageNo, pageSize)
}

// Permissions lists the permissions of role (all roles when empty),
// sorted, one page.
func (s *Store) Permissions(role string, blur bool, pageNo, pageSize int) Page[Permission] {
	s.mu.RLock()
	var all []Permission
	for _, p := range s.st.Permissions {
		if match(role, p.Role, blur) {
			all = append(all, p)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b Permission) int {
		return strings.Compare(a.Role+"\x00"+a.Resource+"\x00"+a.Action, b.Role+"\x00"+b.Resource+"\x00"+b.Action)
	})
	return paginate(all, pageNo, pageSize)
}

func paginate[T any](all []T, pageNo, pageSize int) Page[T] {
	pageNo = max(pageNo, 1)
	if pageSize <= 0 {
		pageSize = 100
	}
	p := Page[T]{TotalCount: len(all), PageNumber: pageNo, PagesAvailable: (len(all) + pageSize - 1) / pageSize, PageItems: []T{}}
	if start := (pageNo - 1) * pageSize; pageNo-1 < p.PagesAvailable && start < len(all) {
		p.PageItems = all[start:min(start+pageSize, len(all))]
	}
	return p
}

// Allowed reports whether user may do action ("r" or "w") on res: an
// admin always may; others need a permission of one of their roles whose
// pattern matches res and whose action contains action.
func (s *Store) Allowed(user string, res Resource, action string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	joined := res.String()
	for _, r := range s.st.Roles {
		if r.Username != user {
			continue
		}
		if r.Role == AdminRole {
			return true
		}
		for _, p := range s.st.Permissions {
			if p.Role == r.Role && strings.Contains(p.Action, action) && matchResource(p.Resource, joined) {
				return true
			}
		}
	}
	return false
}

// detailError is a store error with the text Nacos answers for it.
type detailError struct {
	kind error
	msg  string
}

func detail(kind error, msg string) error { return &detailError{kind: kind, msg: msg} }

func (e *detailError) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *detailError) Unwrap() error { return e.kind }
