package sqlite

import (
	"context"
	"database/sql"

	"github.com/gatehouse/gatehouse"
)

const selectUserSQL = `SELECT id, username, password_hash, disabled, role, team, revision, created_at, updated_at FROM users`

// CreateUser stores u. CodeConflict if a user with its ID or username
// exists, CodeInvalid if it has no ID or no username. Usernames are compared
// exactly as given: normalising them (case, Unicode) is the caller's.
func (db *DB) CreateUser(ctx context.Context, u *gatehouse.User) error {
	if u.ID == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "user id required")
	} else if u.Username == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "username required")
	}
	if u.Role != "" && !u.Role.Valid() {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "unknown role %q", u.Role)
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO users (id, username, password_hash, disabled,
		role, team, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)`,
		u.ID, u.Username, u.PasswordHash, u.Disabled, string(u.Role), u.Team, timeValue(u.CreatedAt), timeValue(u.UpdatedAt))
	if err != nil {
		return formatError(err, "create user", "user")
	}
	u.Revision = 1
	return nil
}

// FindUserByID returns the user with that ID, or CodeNotFound.
func (db *DB) FindUserByID(ctx context.Context, id string) (*gatehouse.User, error) {
	u, err := scanUser(db.reader.QueryRowContext(ctx, selectUserSQL+` WHERE id = ?`, id))
	if err != nil {
		return nil, formatError(err, "find user", "user")
	}
	return u, nil
}

// FindUserByUsername returns the user with exactly that username, or
// CodeNotFound.
func (db *DB) FindUserByUsername(ctx context.Context, username string) (*gatehouse.User, error) {
	u, err := scanUser(db.reader.QueryRowContext(ctx, selectUserSQL+` WHERE username = ?`, username))
	if err != nil {
		return nil, formatError(err, "find user", "user")
	}
	return u, nil
}

// UpdateUser replaces the stored user's Username, PasswordHash, Disabled,
// Role, Team and UpdatedAt. CodeNotFound if it does not exist, CodeConflict
// if another user has the new username, CodeInvalid for an empty username
// or an unknown role, a *RevisionError if u.Revision is set and stale. On
// success u.Revision is the new revision.
func (db *DB) UpdateUser(ctx context.Context, u *gatehouse.User) error {
	if u.Username == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "username required")
	}
	if u.Role != "" && !u.Role.Valid() {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "unknown role %q", u.Role)
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		rev, err := checkRevision(ctx, tx, "users", "id", u.ID, "user", u.Revision)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username = ?, password_hash = ?, disabled = ?,
			role = ?, team = ?, revision = revision + 1, updated_at = ? WHERE id = ?`,
			u.Username, u.PasswordHash, u.Disabled, string(u.Role), u.Team, timeValue(u.UpdatedAt), u.ID); err != nil {
			return err
		}
		u.Revision = rev + 1
		return nil
	})
	return formatError(err, "update user", "user")
}

// FindUsers returns every user, ordered by username.
func (db *DB) FindUsers(ctx context.Context) ([]*gatehouse.User, error) {
	rows, err := db.reader.QueryContext(ctx, selectUserSQL+` ORDER BY username`)
	if err != nil {
		return nil, formatError(err, "find users", "user")
	}
	defer rows.Close()
	us := []*gatehouse.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, formatError(err, "find users", "user")
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find users", "user")
	}
	return us, nil
}

func scanUser(s scanner) (*gatehouse.User, error) {
	var u gatehouse.User
	var created, updated sql.NullInt64
	if err := s.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Disabled, &u.Role, &u.Team, &u.Revision, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = timeOf(created), timeOf(updated)
	return &u, nil
}
