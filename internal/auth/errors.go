package auth

import "errors"

// AccessError is a refused identity or permission. Its Message is the
// exact text Nacos answers in that case.
type AccessError struct{ msg string }

func (e *AccessError) Error() string { return "auth: " + e.msg }

// Message returns the text Nacos puts on the wire.
func (e *AccessError) Message() string { return e.msg }

// The access errors, each with Nacos's wire text (see Message).
var (
	// ErrUserNotFound: no credentials, an unknown user or a wrong password.
	ErrUserNotFound = &AccessError{"user not found!"}
	// ErrTokenInvalid: the token is not three dot-separated parts.
	ErrTokenInvalid = &AccessError{"token invalid!"}
	// ErrUnsupportedAlgorithm: the token header is not one Nacos issues.
	ErrUnsupportedAlgorithm = &AccessError{"unsupported signature algorithm"}
	// ErrInvalidSignature: the token was not signed with this secret.
	ErrInvalidSignature = &AccessError{"Invalid signature"}
	// ErrTokenExpired: the token's exp is in the past.
	ErrTokenExpired = &AccessError{"token expired!"}
	// ErrForbidden: the identity is valid but lacks the permission.
	ErrForbidden = &AccessError{"authorization failed!"}
)

// Store errors: invalid requests, answered 400 by the HTTP API (Nacos
// throws IllegalArgumentException, or answers 409 for ErrAdminExists).
var (
	// ErrInvalid: a missing or malformed argument.
	ErrInvalid = errors.New("auth: invalid argument")
	// ErrUserExists: the user name is taken.
	ErrUserExists = errors.New("auth: user already exists")
	// ErrNoUser: the named user does not exist.
	ErrNoUser = errors.New("auth: no such user")
	// ErrNoRole: the named role has no member.
	ErrNoRole = errors.New("auth: no such role")
	// ErrAdminRole: ROLE_ADMIN cannot be granted, or its holder deleted,
	// through the ordinary APIs.
	ErrAdminRole = errors.New("auth: ROLE_ADMIN is reserved")
	// ErrAdminExists: an admin already exists, so the first-admin API is
	// closed.
	ErrAdminExists = errors.New("auth: an admin already exists")
	// ErrBadSecret: the token secret is not base64 of at least 32 bytes.
	ErrBadSecret = errors.New("auth: the token secret must be the base64 encoding of at least 32 bytes")
)

// Message returns the Nacos wire text of an access or store error, or
// err.Error() for any other error.
func Message(err error) string {
	var ae *AccessError
	if errors.As(err, &ae) {
		return ae.msg
	}
	var de *detailError
	if errors.As(err, &de) {
		return de.msg
	}
	return err.Error()
}
