"""B2B accounts: the team follows the owner, scopes apply, the USCC is unique among live accounts."""

from __future__ import annotations

import pytest

from guanxi.auth import service as auth_service
from guanxi.customers import accounts
from guanxi.customers.models import Account
from guanxi.customers.schemas import AccountCreate, AccountUpdate
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, NotFound
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM
from tests.factories import create_staff

USCC = "91110000600037341L"


def test_team_follows_the_owner(db: Database) -> None:
    with db.unit_of_work() as session:
        amy = create_staff(session, username="amy", role="sales", team="A组")
        bob = create_staff(session, username="bob", role="sales", team="B组")
        lead = auth_service.principal_for(
            create_staff(session, username="lead", role="sales", scope="team", team="A组")
        )
        account_id = accounts.create_account(session, SYSTEM, AccountCreate(name="甲公司", owner_id=amy.id)).id
    with db.unit_of_work() as session:
        assert [a.id for a in accounts.list_accounts(session, lead, PageRequest()).items] == [account_id]
        accounts.update_account(session, SYSTEM, account_id, AccountUpdate(owner_id=bob.id))
    with db.unit_of_work() as session:
        assert accounts.list_accounts(session, lead, PageRequest()).items == []
        accounts.update_account(session, SYSTEM, account_id, AccountUpdate(owner_id=None))
    with db.unit_of_work(read_only=True) as session:
        account = session.get(Account, account_id)
        assert account is not None
        assert (account.owner_id, account.team) == (None, None)


def test_uscc_unique_among_live_accounts(db: Database) -> None:
    with db.unit_of_work() as session:
        first = accounts.create_account(session, SYSTEM, AccountCreate(name="甲公司", uscc=USCC)).id
    with pytest.raises(Conflict) as info, db.unit_of_work() as session:
        accounts.create_account(session, SYSTEM, AccountCreate(name="乙公司", uscc=USCC.lower()))
    assert info.value.extra == {"existing_account_id": first}
    with db.unit_of_work() as session:
        accounts.delete_account(session, SYSTEM, first)
    with db.unit_of_work() as session:
        second = accounts.create_account(session, SYSTEM, AccountCreate(name="乙公司", uscc=USCC)).id
        with pytest.raises(NotFound):
            accounts.account_detail(session, SYSTEM, first)
        assert accounts.account_detail(session, SYSTEM, second).uscc == USCC
