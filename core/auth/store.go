package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/engine"
)

// The root user and role: root is every permission, and only users with
// the root role may manage auth, members and maintenance.
const (
	RootUser = "root"
	RootRole = "root"
)

// Engine layout (all under "u/", which sorts apart from mvcc's families):
//
//	u/enabled      -> <0|1>
//	u/rev          -> <uint64:8>
//	u/user/<name>  -> authpb.User
//	u/role/<name>  -> authpb.Role
var (
	Prefix      = []byte("u/")
	keyEnabled  = []byte("u/enabled")
	keyRevision = []byte("u/rev")
	prefixUser  = []byte("u/user/")
	prefixRole  = []byte("u/role/")
)

// maxTokens bounds the simple tokens kept; the oldest go first.
const maxTokens = 1 << 16

// Store is the auth state. Not safe for concurrent use: the replica's owner
// calls it, like mvcc.Store.
type Store struct {
	enabled bool
	rev     uint64
	users   map[string]*authpb.User
	roles   map[string]*authpb.Role
	perms   map[string]*userPerms // by user, rebuilt on every change

	tokens     map[string]Token
	tokenOrder []string // assignment order, for eviction
}

// Token is what a simple token stands for.
type Token struct {
	User     string
	Revision uint64 // the auth revision it was assigned at
}

// Load reads the auth state from r (nothing stored: disabled, revision 1,
// no users or roles, as a fresh etcd).
func Load(r engine.Reader) (*Store, error) {
	s := &Store{rev: 1, users: map[string]*authpb.User{}, roles: map[string]*authpb.Role{}, tokens: map[string]Token{}}
	if v, ok, err := r.Get(keyEnabled); err != nil {
		return nil, fmt.Errorf("auth: load: %w", err)
	} else if ok {
		s.enabled = len(v) == 1 && v[0] == 1
	}
	if v, ok, err := r.Get(keyRevision); err != nil {
		return nil, fmt.Errorf("auth: load: %w", err)
	} else if ok && len(v) == 8 {
		s.rev = binary.BigEndian.Uint64(v)
	}
	load := func(prefix []byte, m proto.Message, put func()) error {
		it := r.NewIter(prefix, prefixEnd(prefix))
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			if err := proto.Unmarshal(it.Value(), m); err != nil {
				return fmt.Errorf("auth: load %q: %w", it.Key(), err)
			}
			put()
		}
		return nil
	}
	var u authpb.User
	if err := load(prefixUser, &u, func() { s.users[string(u.Name)] = proto.Clone(&u).(*authpb.User) }); err != nil {
		return nil, err
	}
	var ro authpb.Role
	if err := load(prefixRole, &ro, func() { s.roles[string(ro.Name)] = proto.Clone(&ro).(*authpb.Role) }); err != nil {
		return nil, err
	}
	s.refresh()
	return s, nil
}

func prefixEnd(p []byte) []byte {
	end := slices.Clone(p)
	end[len(end)-1]++
	return end
}

// Enabled reports whether authentication is on.
func (s *Store) Enabled() bool { return s.enabled }

// Revision is the auth revision: it grows with every change of users,
// roles or the enabled flag, and tokens from before a change are stale.
func (s *Store) Revision() uint64 { return s.rev }

// User returns the named user (nil: none). Do not modify it.
func (s *Store) User(name string) *authpb.User { return s.users[name] }

// refresh rebuilds the permission cache.
func (s *Store) refresh() {
	s.perms = make(map[string]*userPerms, len(s.users))
	for name, u := range s.users {
		s.perms[name] = s.buildPerms(u)
	}
}

func hasRootRole(u *authpb.User) bool {
	_, ok := slices.BinarySearch(u.GetRoles(), RootRole)
	return ok
}

// CheckAdmin is etcd's IsAdminPermitted: nil when auth is off or user has
// the root role.
func (s *Store) CheckAdmin(user string) error {
	if !s.enabled {
		return nil
	}
	if user == "" {
		return ErrUserEmpty
	}
	u := s.users[user]
	if u == nil {
		return ErrUserNotFound
	}
	if !hasRootRole(u) {
		return ErrPermissionDenied
	}
	return nil
}

// CheckRange checks that user, authenticated at auth revision rev, may
// read [key, end) (end as in a RangeRequest).
func (s *Store) CheckRange(user string, rev uint64, key, end []byte) error {
	return s.check(user, rev, key, end, false)
}

// CheckWrite checks that user may put or delete [key, end).
func (s *Store) CheckWrite(user string, rev uint64, key, end []byte) error {
	return s.check(user, rev, key, end, true)
}

func (s *Store) check(user string, rev uint64, key, end []byte, write bool) error {
	if !s.enabled {
		return nil
	}
	if rev == 0 {
		return ErrUserEmpty
	}
	if rev < s.rev {
		return ErrAuthOldRevision
	}
	u := s.users[user]
	if u == nil {
		return ErrPermissionDenied
	}
	if hasRootRole(u) {
		return nil
	}
	p := s.perms[user]
	set := p.read
	if write {
		set = p.write
	}
	if !set.covers(spanOf(key, end)) {
		return ErrPermissionDenied
	}
	return nil
}

// Token looks a simple token up.
func (s *Store) Token(tok string) (Token, bool) {
	t, ok := s.tokens[tok]
	return t, ok
}

// DropToken forgets a simple token (the server's TTL expired it). Only
// this member forgets it; tokens are not part of the replicated hash.
func (s *Store) DropToken(tok string) { delete(s.tokens, tok) }

func (s *Store) dropUserTokens(user string) {
	for tok, t := range s.tokens {
		if t.User == user {
			delete(s.tokens, tok)
		}
	}
}

// bump advances the revision and writes it.
func (s *Store) bump(b engine.Batch) {
	s.rev++
	b.Set(keyRevision, binary.BigEndian.AppendUint64(nil, s.rev))
}

func (s *Store) putUser(b engine.Batch, u *authpb.User) {
	s.users[string(u.Name)] = u
	v, err := proto.Marshal(u)
	if err != nil {
		panic(fmt.Sprintf("auth: marshal user: %v", err))
	}
	b.Set(append(slices.Clip(prefixUser), u.Name...), v)
}

func (s *Store) putRole(b engine.Batch, r *authpb.Role) {
	s.roles[string(r.Name)] = r
	v, err := proto.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("auth: marshal role: %v", err))
	}
	b.Set(append(slices.Clip(prefixRole), r.Name...), v)
}

// IsAuth reports whether req is an auth request Apply handles.
func IsAuth(req *pb.InternalRaftRequest) bool {
	return req.AuthEnable != nil || req.AuthDisable != nil || req.AuthStatus != nil || req.Authenticate != nil ||
		req.AuthUserAdd != nil || req.AuthUserDelete != nil || req.AuthUserGet != nil || req.AuthUserChangePassword != nil ||
		req.AuthUserGrantRole != nil || req.AuthUserRevokeRole != nil || req.AuthUserList != nil ||
		req.AuthRoleAdd != nil || req.AuthRoleDelete != nil || req.AuthRoleGet != nil || req.AuthRoleList != nil ||
		req.AuthRoleGrantPermission != nil || req.AuthRoleRevokePermission != nil
}

// needsAdmin lists the requests only root may make once auth is on (etcd's
// needAdminPermission); UserGet and RoleGet also let users read themselves.
func needsAdmin(req *pb.InternalRaftRequest) bool {
	return req.AuthEnable != nil || req.AuthDisable != nil || req.AuthUserAdd != nil || req.AuthUserDelete != nil ||
		req.AuthUserChangePassword != nil || req.AuthUserGrantRole != nil || req.AuthUserRevokeRole != nil ||
		req.AuthRoleAdd != nil || req.AuthRoleGrantPermission != nil || req.AuthRoleRevokePermission != nil ||
		req.AuthRoleDelete != nil || req.AuthUserList != nil || req.AuthRoleList != nil
}

// Apply runs a committed auth request at raft index, writing its changes
// to b. The caller (mvcc) commits b with the applied index. Response
// headers are left for the server to fill.
func (s *Store) Apply(index uint64, req *pb.InternalRaftRequest, b engine.Batch) (proto.Message, error) {
	user := req.GetHeader().GetUsername()
	if needsAdmin(req) {
		if err := s.CheckAdmin(user); err != nil {
			return nil, err
		}
	}
	switch {
	case req.AuthEnable != nil:
		return s.enable(b)
	case req.AuthDisable != nil:
		if s.enabled {
			s.enabled = false
			b.Set(keyEnabled, []byte{0})
			s.bump(b)
			clear(s.tokens)
			s.tokenOrder = nil
		}
		return &pb.AuthDisableResponse{}, nil
	case req.AuthStatus != nil:
		return &pb.AuthStatusResponse{Enabled: s.enabled, AuthRevision: s.rev}, nil
	case req.Authenticate != nil:
		return s.authenticate(index, req)
	case req.AuthUserAdd != nil:
		return s.userAdd(req.AuthUserAdd, b)
	case req.AuthUserDelete != nil:
		return s.userDelete(req.AuthUserDelete.Name, b)
	case req.AuthUserChangePassword != nil:
		return s.changePassword(req.AuthUserChangePassword, b)
	case req.AuthUserGrantRole != nil:
		return s.grantRole(req.AuthUserGrantRole, b)
	case req.AuthUserRevokeRole != nil:
		return s.revokeRole(req.AuthUserRevokeRole, b)
	case req.AuthUserGet != nil:
		if s.CheckAdmin(user) != nil && req.AuthUserGet.Name != user {
			return nil, s.CheckAdmin(user)
		}
		u := s.users[req.AuthUserGet.Name]
		if u == nil {
			return nil, ErrUserNotFound
		}
		return &pb.AuthUserGetResponse{Roles: slices.Clone(u.Roles)}, nil
	case req.AuthUserList != nil:
		return &pb.AuthUserListResponse{Users: sortedKeys(s.users)}, nil
	case req.AuthRoleAdd != nil:
		return s.roleAdd(req.AuthRoleAdd.Name, b)
	case req.AuthRoleDelete != nil:
		return s.roleDelete(req.AuthRoleDelete.Role, b)
	case req.AuthRoleGet != nil:
		return s.roleGet(user, req.AuthRoleGet.Role)
	case req.AuthRoleList != nil:
		return &pb.AuthRoleListResponse{Roles: sortedKeys(s.roles)}, nil
	case req.AuthRoleGrantPermission != nil:
		return s.grantPermission(req.AuthRoleGrantPermission, b)
	case req.AuthRoleRevokePermission != nil:
		return s.revokePermission(req.AuthRoleRevokePermission, b)
	}
	return nil, fmt.Errorf("auth: not an auth request")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *Store) enable(b engine.Batch) (proto.Message, error) {
	if s.enabled {
		return &pb.AuthEnableResponse{}, nil
	}
	root := s.users[RootUser]
	if root == nil {
		return nil, ErrRootUserNotExist
	}
	if !hasRootRole(root) {
		return nil, ErrRootRoleNotExist
	}
	s.enabled = true
	b.Set(keyEnabled, []byte{1})
	return &pb.AuthEnableResponse{}, nil
}

// authenticate assigns a simple token: the server checked the password at
// auth revision Header.AuthRevision; if anything changed since, the token
// would outlive that change, so the client must try again.
func (s *Store) authenticate(index uint64, req *pb.InternalRaftRequest) (proto.Message, error) {
	r := req.Authenticate
	if !s.enabled {
		return nil, ErrAuthNotEnabled
	}
	if s.users[r.Name] == nil {
		return nil, ErrAuthFailed
	}
	if req.GetHeader().GetAuthRevision() < s.rev {
		return nil, ErrAuthOldRevision
	}
	if r.SimpleToken == "" {
		return &pb.AuthenticateResponse{}, nil // a JWT is signed by the server
	}
	tok := r.SimpleToken + "." + strconv.FormatUint(index, 10)
	s.tokens[tok] = Token{User: r.Name, Revision: s.rev}
	s.tokenOrder = append(s.tokenOrder, tok)
	for len(s.tokenOrder) > maxTokens {
		delete(s.tokens, s.tokenOrder[0])
		s.tokenOrder = s.tokenOrder[1:]
	}
	return &pb.AuthenticateResponse{Token: tok}, nil
}

func (s *Store) userAdd(r *pb.AuthUserAddRequest, b engine.Batch) (proto.Message, error) {
	if r.Name == "" {
		return nil, ErrUserEmpty
	}
	if s.users[r.Name] != nil {
		return nil, ErrUserAlreadyExist
	}
	opts := r.Options
	if opts == nil {
		opts = &authpb.UserAddOptions{}
	}
	u := &authpb.User{Name: []byte(r.Name), Options: opts}
	if !opts.NoPassword {
		// The server hashed it (bcrypt, base64 as in etcd's API) before
		// proposing; a plaintext password never enters the log.
		h, err := base64.StdEncoding.DecodeString(r.HashedPassword)
		if err != nil {
			return nil, ErrNoPasswordUser
		}
		u.Password = h
	}
	s.putUser(b, u)
	s.bump(b)
	s.refresh()
	return &pb.AuthUserAddResponse{}, nil
}

func (s *Store) userDelete(name string, b engine.Batch) (proto.Message, error) {
	if s.enabled && name == RootUser {
		return nil, ErrInvalidAuthMgmt
	}
	if s.users[name] == nil {
		return nil, ErrUserNotFound
	}
	delete(s.users, name)
	b.Delete(append(slices.Clip(prefixUser), name...))
	s.bump(b)
	s.refresh()
	s.dropUserTokens(name)
	return &pb.AuthUserDeleteResponse{}, nil
}

func (s *Store) changePassword(r *pb.AuthUserChangePasswordRequest, b engine.Batch) (proto.Message, error) {
	u := s.users[r.Name]
	if u == nil {
		return nil, ErrUserNotFound
	}
	nu := proto.Clone(u).(*authpb.User)
	if u.GetOptions().GetNoPassword() {
		nu.Password = nil
	} else {
		h, err := base64.StdEncoding.DecodeString(r.HashedPassword)
		if err != nil {
			return nil, ErrNoPasswordUser
		}
		nu.Password = h
	}
	s.putUser(b, nu)
	s.bump(b)
	s.refresh()
	s.dropUserTokens(r.Name)
	return &pb.AuthUserChangePasswordResponse{}, nil
}

func (s *Store) grantRole(r *pb.AuthUserGrantRoleRequest, b engine.Batch) (proto.Message, error) {
	u := s.users[r.User]
	if u == nil {
		return nil, ErrUserNotFound
	}
	if r.Role != RootRole && s.roles[r.Role] == nil {
		return nil, ErrRoleNotFound
	}
	i, found := slices.BinarySearch(u.Roles, r.Role)
	if found {
		return &pb.AuthUserGrantRoleResponse{}, nil
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Roles = slices.Insert(nu.Roles, i, r.Role)
	s.putUser(b, nu)
	s.bump(b)
	s.refresh()
	return &pb.AuthUserGrantRoleResponse{}, nil
}

func (s *Store) revokeRole(r *pb.AuthUserRevokeRoleRequest, b engine.Batch) (proto.Message, error) {
	if s.enabled && r.Name == RootUser && r.Role == RootRole {
		return nil, ErrInvalidAuthMgmt
	}
	u := s.users[r.Name]
	if u == nil {
		return nil, ErrUserNotFound
	}
	i, found := slices.BinarySearch(u.Roles, r.Role)
	if !found {
		return nil, ErrRoleNotGranted
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Roles = slices.Delete(nu.Roles, i, i+1)
	s.putUser(b, nu)
	s.bump(b)
	s.refresh()
	return &pb.AuthUserRevokeRoleResponse{}, nil
}

func (s *Store) roleAdd(name string, b engine.Batch) (proto.Message, error) {
	if name == "" {
		return nil, ErrRoleEmpty
	}
	if s.roles[name] != nil {
		return nil, ErrRoleAlreadyExist
	}
	s.putRole(b, &authpb.Role{Name: []byte(name)})
	s.bump(b)
	return &pb.AuthRoleAddResponse{}, nil
}

func (s *Store) roleDelete(name string, b engine.Batch) (proto.Message, error) {
	if s.enabled && name == RootRole {
		return nil, ErrInvalidAuthMgmt
	}
	if s.roles[name] == nil {
		return nil, ErrRoleNotFound
	}
	delete(s.roles, name)
	b.Delete(append(slices.Clip(prefixRole), name...))
	for _, un := range sortedKeys(s.users) {
		u := s.users[un]
		if i, found := slices.BinarySearch(u.Roles, name); found {
			nu := proto.Clone(u).(*authpb.User)
			nu.Roles = slices.Delete(nu.Roles, i, i+1)
			s.putUser(b, nu)
		}
	}
	s.bump(b)
	s.refresh()
	return &pb.AuthRoleDeleteResponse{}, nil
}

// rootPerm is what RoleGet shows for the root role: everything.
func rootPerm() *authpb.Permission {
	return &authpb.Permission{PermType: authpb.Permission_READWRITE, Key: []byte{}, RangeEnd: []byte{0}}
}

func (s *Store) roleGet(user, name string) (proto.Message, error) {
	if err := s.CheckAdmin(user); err != nil {
		if u := s.users[user]; u == nil || !slices.Contains(u.Roles, name) {
			return nil, err
		}
	}
	r := s.roles[name]
	if r == nil {
		return nil, ErrRoleNotFound
	}
	if name == RootRole {
		return &pb.AuthRoleGetResponse{Perm: []*authpb.Permission{rootPerm()}}, nil
	}
	perms := make([]*authpb.Permission, len(r.KeyPermission))
	for i, p := range r.KeyPermission {
		perms[i] = proto.Clone(p).(*authpb.Permission)
	}
	return &pb.AuthRoleGetResponse{Perm: perms}, nil
}

func (s *Store) grantPermission(r *pb.AuthRoleGrantPermissionRequest, b engine.Batch) (proto.Message, error) {
	if r.Perm == nil {
		return nil, ErrPermissionNotGiven
	}
	if !validPermRange(r.Perm.Key, r.Perm.RangeEnd) {
		return nil, ErrInvalidAuthMgmt
	}
	role := s.roles[r.Name]
	if role == nil {
		return nil, ErrRoleNotFound
	}
	nr := proto.Clone(role).(*authpb.Role)
	i, _ := slices.BinarySearchFunc(nr.KeyPermission, r.Perm.Key, func(p *authpb.Permission, k []byte) int { return bytes.Compare(p.Key, k) })
	if i < len(nr.KeyPermission) && bytes.Equal(nr.KeyPermission[i].Key, r.Perm.Key) && bytes.Equal(nr.KeyPermission[i].RangeEnd, r.Perm.RangeEnd) {
		nr.KeyPermission[i].PermType = r.Perm.PermType
	} else {
		np := &authpb.Permission{Key: slices.Clone(r.Perm.Key), RangeEnd: slices.Clone(r.Perm.RangeEnd), PermType: r.Perm.PermType}
		nr.KeyPermission = append(nr.KeyPermission, np)
		slices.SortStableFunc(nr.KeyPermission, func(a, b *authpb.Permission) int { return bytes.Compare(a.Key, b.Key) })
	}
	s.putRole(b, nr)
	s.bump(b)
	s.refresh()
	return &pb.AuthRoleGrantPermissionResponse{}, nil
}

func (s *Store) revokePermission(r *pb.AuthRoleRevokePermissionRequest, b engine.Batch) (proto.Message, error) {
	role := s.roles[r.Role]
	if role == nil {
		return nil, ErrRoleNotFound
	}
	nr := &authpb.Role{Name: role.Name}
	for _, p := range role.KeyPermission {
		if !bytes.Equal(p.Key, r.Key) || !bytes.Equal(p.RangeEnd, r.RangeEnd) {
			nr.KeyPermission = append(nr.KeyPermission, proto.Clone(p).(*authpb.Permission))
		}
	}
	if len(nr.KeyPermission) == len(role.KeyPermission) {
		return nil, ErrPermissionNotGranted
	}
	s.putRole(b, nr)
	s.bump(b)
	s.refresh()
	return &pb.AuthRoleRevokePermissionResponse{}, nil
}
