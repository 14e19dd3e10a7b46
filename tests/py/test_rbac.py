"""Users and user groups (RBAC) on real nodes: the API's rules and errors, access strings
allowed and denied per user through the endpoints, NOAUTH for a disabled `default` user, a
user group's members and a user's access string changed on a running group (`modifying`, then
`available`), user groups attached and detached, and deletes refused while in use."""


import botocore.exceptions
import pytest
import redis

from harness import client_error_code, wait_group_available, wait_until

APP_PASSWORD = "app-password-0123456789"
READER_PASSWORD = "reader-password-0123456"
DEFAULT_PASSWORD = "default-password-012345"


def fault(fn, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        fn(**kwargs)
    return client_error_code(excinfo.value)[0], excinfo.value.response["Error"]["Message"]


def as_user(fc, address, user, password):
    """A TLS client logged in as `user` (user groups need encryption in transit, and AWS
    refuses them with TransitEncryptionMode=preferred)."""
    return fc.tls_redis(address, username=user, password=password)


def denied(client, *command):
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.execute_command(*command)
    return True


# Goal: the API's rules for users and user groups, AWS's error codes.
def test_user_and_user_group_rules(fc, ec):
    users = ec.describe_users()["Users"]
    assert [u["UserId"] for u in users] == ["default"]
    assert users[0]["AccessString"] == "on ~* +@all"
    assert users[0]["Authentication"] == {"Type": "no-password", "PasswordCount": 0}
    created = ec.create_user(UserId="app", UserName="app", Engine="redis",
                             AccessString="on ~app:* +get +set", Passwords=[APP_PASSWORD])
    assert created["Status"] == "active"
    assert created["Authentication"] == {"Type": "password", "PasswordCount": 1}
    assert created["ARN"] == "arn:aws:elasticache:us-east-1:123456789012:user:app"
    assert fault(ec.create_user, UserId="app", UserName="app", Engine="redis",
                 AccessString="on ~* +@all", Passwords=[APP_PASSWORD])[0] == "UserAlreadyExists"
    code, message = fault(ec.create_user, UserId="bad", UserName="bad", Engine="redis",
                          AccessString="on ~* +@nosuchcategory", Passwords=[APP_PASSWORD])
    assert code == "InvalidParameterValue" and "nosuchcategory" in message
    assert fault(ec.create_user, UserId="bad", UserName="bad", Engine="redis",
                 AccessString="on ~* +nosuchcommand", Passwords=[APP_PASSWORD])[0] == \
        "InvalidParameterValue"
    assert fault(ec.create_user, UserId="bad", UserName="bad", Engine="redis",
                 AccessString="on ~* +@all", Passwords=["short"]) == \
        ("InvalidParameterValue", "Passwords length must be between 16-128 characters.")
    ec.create_user(UserId="other-default", UserName="default", Engine="redis",
                   AccessString="off -@all", Passwords=[DEFAULT_PASSWORD])

    assert fault(ec.create_user_group, UserGroupId="g", Engine="redis", UserIds=["app"]) == \
        ("DefaultUserRequired", "User group needs to contain a user with the user name default.")
    assert fault(ec.create_user_group, UserGroupId="g", Engine="redis",
                 UserIds=["default", "other-default"])[0] == "DuplicateUserName"
    assert fault(ec.create_user_group, UserGroupId="g", Engine="redis",
                 UserIds=["default", "ghost"])[0] == "UserNotFound"
    group = ec.create_user_group(UserGroupId="g", Engine="redis", UserIds=["default", "app"])
    assert group["UserIds"] == ["app", "default"] and group["Status"] == "active"
    assert fault(ec.create_user_group, UserGroupId="g", Engine="redis",
                 UserIds=["default"])[0] == "UserGroupAlreadyExists"
    assert fault(ec.delete_user, UserId="app")[0] == "InvalidUserState"
    assert fault(ec.delete_user, UserId="default")[0] == "DefaultUserAssociatedToUserGroup"
    assert fault(ec.describe_users, UserId="ghost")[0] == "UserNotFound"
    assert fault(ec.describe_user_groups, UserGroupId="ghost")[0] == "UserGroupNotFound"
    # Without encryption in transit, and together with a token, user groups are refused.
    assert fault(ec.create_replication_group, ReplicationGroupId="rg",
                 ReplicationGroupDescription="d", UserGroupIds=["g"])[0] == \
        "InvalidParameterCombination"
    assert fault(ec.create_replication_group, ReplicationGroupId="rg",
                 ReplicationGroupDescription="d", UserGroupIds=["g"],
                 TransitEncryptionEnabled=True, TransitEncryptionMode="preferred",
                 AuthToken="a-token-of-sixteen+")[0] == "InvalidParameterCombination"
    assert fault(ec.create_replication_group, ReplicationGroupId="rg",
                 ReplicationGroupDescription="d", UserGroupIds=["nope"],
                 TransitEncryptionEnabled=True)[0] == "UserGroupNotFound"
    # AWS refuses plaintext-tolerant TLS with access control (its text, as Terraform shows).
    code, message = fault(ec.create_replication_group, ReplicationGroupId="rg",
                          ReplicationGroupDescription="d", UserGroupIds=["g"],
                          TransitEncryptionEnabled=True, TransitEncryptionMode="preferred")
    assert (code, message) == ("InvalidParameterCombination",
                               "Transit encryption preferred is not supported with redis "
                               "access control.")
    ec.delete_user_group(UserGroupId="g")
    assert ec.delete_user(UserId="app")["Status"] == "deleting"


# Goal: a group with a user group runs exactly its users on every node: the disabled `default`
# answers NOAUTH, each user can run what its access string allows and gets NOPERM otherwise,
# replication works (internal user); changing a user group's members or a user's access
# string reaches the running nodes (the group reads modifying, then available); deletes are
# refused while in use; detaching the user group brings the open `default` user back.
def test_users_allowed_and_denied_on_a_running_group(fc, ec):
    ec.create_user(UserId="app", UserName="app", Engine="redis",
                   AccessString="on ~app:* +get +set +ping +client|id",
                   Passwords=[APP_PASSWORD])
    ec.create_user(UserId="reader", UserName="reader", Engine="redis",
                   AccessString="on ~* +@read +ping", Passwords=[READER_PASSWORD])
    ec.create_user(UserId="no-default", UserName="default", Engine="redis",
                   AccessString="off -@all", NoPasswordRequired=True)
    ec.create_user_group(UserGroupId="apps", Engine="redis",
                         UserIds=["no-default", "app", "reader"])
    ec.create_replication_group(ReplicationGroupId="rbac", ReplicationGroupDescription="r",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                TransitEncryptionEnabled=True, UserGroupIds=["apps"])
    group = wait_group_available(ec, "rbac")
    assert group["UserGroupIds"] == ["apps"]
    assert ec.describe_user_groups(UserGroupId="apps")["UserGroups"][0][
        "ReplicationGroups"] == ["rbac"]
    node_group = group["NodeGroups"][0]
    primary = node_group["PrimaryEndpoint"]["Address"]
    reader_endpoint = node_group["ReaderEndpoint"]["Address"]

    for address in [primary, reader_endpoint]:
        assert fc.tls_raw_reply(address, "GET app:1") == "-NOAUTH Authentication required."
    app = as_user(fc, primary, "app", APP_PASSWORD)
    assert app.set("app:1", "one")
    assert app.get("app:1") == b"one"
    assert denied(app, "SET", "other:1", "x")
    assert denied(app, "DEL", "app:1")
    reader = as_user(fc, reader_endpoint, "reader", READER_PASSWORD)
    wait_until(lambda: reader.get("app:1") == b"one", timeout=30, what="replicated")
    assert denied(as_user(fc, primary, "reader", READER_PASSWORD), "SET", "app:2", "x")
    with pytest.raises(redis.exceptions.AuthenticationError):
        as_user(fc, primary, "app", READER_PASSWORD).ping()
    # The restricted commands stay restricted for RBAC users.
    with pytest.raises(redis.exceptions.ResponseError, match="unknown command"):
        app.execute_command("CONFIG", "GET", "maxmemory")

    # Deletes are refused while in use.
    assert fault(ec.delete_user, UserId="app")[0] == "InvalidUserState"
    assert fault(ec.delete_user_group, UserGroupId="apps")[0] == "InvalidUserGroupState"

    # A member leaves: the running nodes drop it.
    changed = ec.modify_user_group(UserGroupId="apps", UserIdsToRemove=["reader"])
    assert changed["UserIds"] == ["app", "no-default"]
    wait_group_available(ec, "rbac")
    wait_until(lambda: ec.describe_user_groups(UserGroupId="apps")["UserGroups"][0]["Status"]
               == "active", what="user group active")
    with pytest.raises(redis.exceptions.AuthenticationError):
        as_user(fc, primary, "reader", READER_PASSWORD).ping()
    # A user's access string changes: the app may now write anywhere; its open connection
    # stays.
    app_id = app.client_id()
    ec.modify_user(UserId="app", AccessString="on ~* +@all")
    wait_group_available(ec, "rbac")
    wait_until(lambda: ec.describe_users(UserId="app")["Users"][0]["Status"] == "active",
               what="user active")
    assert app.set("other:1", "x")
    assert app.client_id() == app_id

    # Detached: the open built-in `default` user is back, RBAC users are gone.
    ec.modify_replication_group(ReplicationGroupId="rbac", UserGroupIdsToRemove=["apps"],
                                ApplyImmediately=True)
    wait_group_available(ec, "rbac")
    assert fc.tls_raw_reply(primary, "GET app:1") == "$3"
    with pytest.raises(redis.exceptions.AuthenticationError):
        as_user(fc, primary, "app", APP_PASSWORD).ping()
    ec.delete_user_group(UserGroupId="apps")
    ec.delete_user(UserId="app")
