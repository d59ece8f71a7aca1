#!/usr/bin/env python3
"""Oracle fixtures for stateless block re-execution, computed by the Ethereum execution spec.

The stateless verifier recomputes a block's post-state root from a witness; its expected
results must not come from the code under test. This script builds small Prague blocks
(pre-state, block environment, signed transactions), executes each one with the execution
specification's own state-transition tool (t8n, from the `ethereum-execution` package pinned in
tools/spec/requirements.txt) and prints ONE JSON document to stdout:

    {"fixtures": [{"name", "description", "fork", "chainId", "ancestors", "pre", "preStateRoot",
                   "env", "txs", "result", "header", "post"}, ...]}

Run it from the repository root (it needs no network and is deterministic):

    bash tools/install-spec.sh      # once: the pinned spec in .tools/spec-venv
    .tools/spec-venv/bin/python exex/stateless/tests/spec/blocks.py > out.json
    .tools/spec-venv/bin/python exex/stateless/tests/spec/blocks.py --bench > bench.json

With `--bench` it prints, in the same format, three mainnet-like blocks of about 1, 10 and 30
Mgas (`bench_1mgas`, `bench_10mgas`, `bench_30mgas`; see "Bench blocks" below) instead.

Every fixture asserts that the spec accepted all of its transactions and the block itself
(`rejected` is empty, no block exception), plus the property the fixture exists for (a
storage-trie or account-trie branch collapse, an EIP-6780 deletion, system-call writes, ...).
Any failed assertion aborts the run with a non-zero exit status and no JSON on stdout.

Format notes:
- quantities are minimal 0x-hex; storage keys are 32-byte 0x-hex; addresses are lowercase.
- `pre`/`post` list every account with all four fields (balance, nonce, code, storage).
- `txs` are raw EIP-2718 encodings (legacy: the RLP list; typed: type byte || RLP payload).
- `ancestors` are the full headers (JSON-RPC field names, with their "hash" = keccak256 of the
  spec's RLP of its `Header`) of the blocks before this one, oldest first, ending with the
  parent (number-1): each one's `parentHash` is the previous one's hash (the oldest's is
  arbitrary), the parent's `stateRoot` is `preStateRoot`. They are empty blocks 12 s apart
  (empty transactions/receipts/withdrawals tries, no requests, gasUsed 0) whose base fees
  lead to the block's; the spec's `validate_header` accepts each one, and the block's header,
  as its predecessor's child.
- `env.blockHashes` maps exactly the ancestors' numbers to their hashes; its entry for number-1
  is `parentHash` (the spec's t8n takes the parent hash, e.g. for the EIP-2935 system call,
  from there).
- `header` is the block's own header (same shape, with its "hash"): `env` plus `result`, with
  empty extraData, difficulty 0, nonce 0, no ommers, blobGasUsed 0 and mixHash = prevRandao.
- `env.withdrawals[].amount` is in gwei.
- `preStateRoot` is the spec's state root of `pre` (the parent block's state root).
- `result.requests` lists the EIP-7685 requests (type byte || data) behind `requestsHash`.

Spec facts this relies on (ethereum-execution 2.20.0, Prague):
- The EIP-7002 and EIP-7251 system calls are "checked": without code at their addresses the
  block is invalid, so every fixture's pre-state holds all four system contracts. The EIP-4788
  and EIP-2935 calls are "unchecked" (no code: silently nothing happens).
- Post-merge the spec assumes EIP-7523 (no empty accounts exist): t8n refuses a pre-state
  with an empty account, and the EIP-161 "touched empty account" sweep is gone. An existing
  empty account is only removed when the spec modifies it and it is still empty afterwards
  (e.g. it receives 0 wei from a SELFDESTRUCT, or is a coinbase paid a 0 tip); a 0-value
  CALL alone leaves it in the state, where EIP-161 clients (e.g. revm) delete it. The
  `branch_collapse` fixture therefore inserts its empty account into the loaded state
  directly and deletes it with a 0-wei SELFDESTRUCT, on which spec and clients agree.
"""

import dataclasses
import hashlib
import io
import json
import random
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

try:
    import coincurve
    from ethereum_rlp import rlp
    from ethereum_types.bytes import Bytes, Bytes0, Bytes8, Bytes32, Bytes256
    from ethereum_types.numeric import U64, U256, Uint

    from ethereum.crypto.hash import keccak256
    from ethereum.forks.prague import fork as pfork
    from ethereum.forks.prague import state as pstate
    from ethereum.forks.prague import transactions as ptx
    from ethereum.forks.prague.blocks import Block, Header
    from ethereum.forks.prague.fork_types import Account, Address
    from ethereum.forks.prague.requests import compute_requests_hash
    from ethereum.forks.prague.trie import EMPTY_TRIE_ROOT
    from ethereum.forks.prague.utils.address import (
        compute_contract_address,
        compute_create2_contract_address,
    )
    from ethereum_spec_tools.evm_tools import create_parser
    from ethereum_spec_tools.evm_tools.t8n import T8N, ForkCache
    from ethereum_spec_tools.evm_tools.utils import secp256k1_sign
except ImportError as e:
    sys.exit(f"blocks.py: {e}; run `bash tools/install-spec.sh` and use .tools/spec-venv/bin/python")

FORK = "Prague"
CHAIN_ID = 1

# Devnet test keys: public, never use with real funds.
KEY_ALICE = 0xA11CE0000000000000000000000000000000000000000000000000000000A11C
KEY_BOB = 0xB0B0000000000000000000000000000000000000000000000000000000000B0B
KEY_CAROL = 0xCA7010000000000000000000000000000000000000000000000000000000CA70
KEY_DAVE = 0xDA7E000000000000000000000000000000000000000000000000000000000DA7

GWEI = 10**9
ETHER = 10**18

# --- System contracts (runtime code as deployed; addresses from the EIPs) -------------------

# EIP-4788: beacon block root in the EVM.
BEACON_ROOTS_ADDRESS = bytes.fromhex("000f3df6d732807ef1319fb7b8bb8522d0beac02")
BEACON_ROOTS_CODE = bytes.fromhex(
    "3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f3580156049"
    "5762001fff810690815414603c575f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff42064281"
    "555f359062001fff015500"
)
BEACON_ROOTS_BUFFER = 8191

# EIP-2935: serve historical block hashes from state.
HISTORY_STORAGE_ADDRESS = bytes.fromhex("0000f90827f1c53a10cb7a02335b175320002935")
HISTORY_STORAGE_CODE = bytes.fromhex(
    "3373fffffffffffffffffffffffffffffffffffffffe14604657602036036042575f356001430381116042"
    "57611fff81430311604257611fff9006545f5260205ff35b5f5ffd5b5f35611fff60014303065500"
)
HISTORY_SERVE_WINDOW = 8191

# EIP-7002: execution layer triggerable withdrawals (withdrawal request predeploy).
WITHDRAWAL_REQUEST_ADDRESS = bytes.fromhex("00000961ef480eb55e80d19ad83579a64c007002")
WITHDRAWAL_REQUEST_CODE = bytes.fromhex(
    "3373fffffffffffffffffffffffffffffffffffffffe1460cb5760115f54807fffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffff146101f457600182026001905f5b5f82111560685781"
    "019083028483029004916001019190604d565b909390049250505036603814608857366101f457346101f4"
    "575f5260205ff35b34106101f457600154600101600155600354806003026004013381556001015f358155"
    "60010160203590553360601b5f5260385f601437604c5fa0600101600355005b6003546002548082038060"
    "101160df575060105b5f5b8181146101835782810160030260040181604c02815460601b81526014018160"
    "01015481526020019060020154807fffffffffffffffffffffffffffffffff000000000000000000000000"
    "00000000168252906010019060401c908160381c81600701538160301c81600601538160281c8160050153"
    "8160201c81600401538160181c81600301538160101c81600201538160081c81600101535360010160e156"
    "5b910180921461019557906002556101a0565b90505f6002555f6003555b5f54807fffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffff14156101cd57505f5b6001546002828201116101"
    "e25750505f6101e8565b01600290035b5f555f600155604c025ff35b5f5ffd"
)

# EIP-7251: increase the MAX_EFFECTIVE_BALANCE (consolidation request predeploy).
CONSOLIDATION_REQUEST_ADDRESS = bytes.fromhex("0000bbddc7ce488642fb579f8b00f3a590007251")
CONSOLIDATION_REQUEST_CODE = bytes.fromhex(
    "3373fffffffffffffffffffffffffffffffffffffffe1460d35760115f54807fffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffff1461019a57600182026001905f5b5f82111560685781"
    "019083028483029004916001019190604d565b9093900492505050366060146088573661019a573461019a"
    "575f5260205ff35b341061019a57600154600101600155600354806004026004013381556001015f358155"
    "600101602035815560010160403590553360601b5f5260605f60143760745fa0600101600355005b600354"
    "6002548082038060021160e7575060025b5f5b8181146101295782810160040260040181607402815460601b"
    "815260140181600101548152602001816002015481526020019060030154905260010160e9565b91018092"
    "1461013b5790600255610146565b90505f6002555f6003555b5f54807fffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffff141561017357505f5b6001546001828201116101885750505f"
    "61018e565b01600190035b5f555f6001556074025ff35b5f5ffd"
)

# EIP-7002 / EIP-7251: slot 0 holds the excess count; their deployment sets it to
# EXCESS_INHIBITOR until the first system call of the fork.
EXCESS_INHIBITOR = 2**256 - 1

# The runtime lengths the EIPs' deployment init codes copy out (0x1f8 and 0x19e bytes). Note:
# alloy-eips' CONSOLIDATION_REQUEST_PREDEPLOY_CODE carries two extra trailing zero bytes.
assert len(WITHDRAWAL_REQUEST_CODE) == 0x1F8 and len(CONSOLIDATION_REQUEST_CODE) == 0x19E


# --- Small helpers -----------------------------------------------------------------------


def h(data: bytes) -> bytes:
    return bytes(keccak256(data))


def word(data: bytes) -> int:
    return int.from_bytes(data, "big")


def q(value: int) -> str:
    """Minimal hex quantity."""
    return hex(value)


def hx(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def slot_key(slot: int) -> str:
    return "0x" + slot.to_bytes(32, "big").hex()


def nibbles(data: bytes) -> str:
    return data.hex()


def common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def address_of(key: int) -> bytes:
    public = coincurve.PrivateKey.from_int(key).public_key.format(compressed=False)
    return h(public[1:])[12:]


def seeded_address(seed: str) -> bytes:
    return h(b"avs-exex stateless fixture: " + seed.encode())[12:]


ALICE, BOB, CAROL, DAVE = (address_of(k) for k in (KEY_ALICE, KEY_BOB, KEY_CAROL, KEY_DAVE))
KEYS = {ALICE: KEY_ALICE, BOB: KEY_BOB, CAROL: KEY_CAROL, DAVE: KEY_DAVE}


# --- A tiny EVM assembler ------------------------------------------------------------------

OPS = {
    "STOP": 0x00, "ADD": 0x01, "MUL": 0x02, "SUB": 0x03, "GT": 0x11, "ISZERO": 0x15,
    "XOR": 0x18, "KECCAK256": 0x20, "CALLER": 0x33, "CALLVALUE": 0x34,
    "CALLDATALOAD": 0x35, "CALLDATASIZE": 0x36, "CODECOPY": 0x39, "BLOCKHASH": 0x40,
    "NUMBER": 0x43, "POP": 0x50, "MLOAD": 0x51, "MSTORE": 0x52, "SSTORE": 0x55, "JUMP": 0x56,
    "JUMPI": 0x57, "JUMPDEST": 0x5B, "PUSH0": 0x5F, "DUP1": 0x80, "DUP2": 0x81, "SWAP1": 0x90,
    "CREATE": 0xF0, "RETURN": 0xF3, "CREATE2": 0xF5, "SELFDESTRUCT": 0xFF,
}


class Raw(bytes):
    """Bytes appended verbatim (e.g. an embedded init code)."""


def push(value: Any) -> bytes:
    if isinstance(value, bytes):
        assert 1 <= len(value) <= 32
        return bytes([0x5F + len(value)]) + value
    if value == 0:
        return bytes([OPS["PUSH0"]])
    n = (value.bit_length() + 7) // 8
    return bytes([0x5F + n]) + value.to_bytes(n, "big")


def asm(*items: Any) -> bytes:
    """Assemble: opcode names, ints/bytes (pushed), ":label" (defines), "@label" (PUSH1 of
    the label's offset), Raw(...) (verbatim)."""

    def emit(labels: Dict[str, int]) -> bytes:
        out = b""
        for item in items:
            if isinstance(item, Raw):
                out += bytes(item)
            elif isinstance(item, str) and item.startswith(":"):
                labels[item[1:]] = len(out)
            elif isinstance(item, str) and item.startswith("@"):
                out += bytes([0x60, labels.get(item[1:], 0)])
            elif isinstance(item, str):
                out += bytes([OPS[item]])
            else:
                out += push(item)
        return out

    labels: Dict[str, int] = {}
    emit(labels)
    assert all(v < 256 for v in labels.values())
    return emit(labels)


def initcode(runtime: bytes, constructor: bytes = b"") -> bytes:
    """Init code that runs `constructor` and then returns `runtime`."""
    prefix_len = len(constructor) + 13  # the copy-and-return stub below is 13 bytes
    size = len(runtime).to_bytes(2, "big")
    stub = asm(size, prefix_len.to_bytes(2, "big"), 0, "CODECOPY", size, 0, "RETURN")
    assert len(stub) == 13
    return constructor + stub + runtime


# Writes (slot, value) pairs: calldata is a sequence of 64-byte words [slot, value].
STORE_PAIRS_CODE = asm(
    0,
    ":loop", "JUMPDEST",
    "DUP1", "CALLDATASIZE", "GT", "ISZERO", "@end", "JUMPI",
    "DUP1", 0x20, "ADD", "CALLDATALOAD",
    "DUP2", "CALLDATALOAD",
    "SSTORE",
    0x40, "ADD",
    "@loop", "JUMP",
    ":end", "JUMPDEST", "STOP",
)


def store_pairs(*pairs: Tuple[int, int]) -> bytes:
    return b"".join(s.to_bytes(32, "big") + v.to_bytes(32, "big") for s, v in pairs)


def selfdestruct_to(beneficiary: bytes) -> bytes:
    return asm(beneficiary, "SELFDESTRUCT")


# --- Transactions ----------------------------------------------------------------------------


def to_field(to: Optional[bytes]) -> Any:
    return Bytes0(b"") if to is None else Address(to)


class Txs:
    """Builds signed transactions, tracking each sender's nonce from the pre-state."""

    def __init__(self, pre: Dict[bytes, Dict[str, Any]], base_fee: int):
        self.nonces = {a: acc.get("nonce", 0) for a, acc in pre.items()}
        self.base_fee = base_fee
        self.raw: List[bytes] = []
        self.objects: List[Any] = []

    def _next_nonce(self, sender: bytes) -> int:
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        return nonce

    def _finish(self, sender: bytes, tx: Any) -> Any:
        key = KEYS[sender]
        if isinstance(tx, ptx.LegacyTransaction):
            r, s, y = secp256k1_sign(ptx.signing_hash_155(tx, U64(CHAIN_ID)), key)
            tx = dataclasses.replace(tx, v=U256(35 + 2 * CHAIN_ID + int(y)), r=r, s=s)
            raw = rlp.encode(tx)
        else:
            if isinstance(tx, ptx.AccessListTransaction):
                signing_hash = ptx.signing_hash_2930(tx)
            else:
                signing_hash = ptx.signing_hash_1559(tx)
            r, s, y = secp256k1_sign(signing_hash, key)
            tx = dataclasses.replace(tx, y_parity=y, r=r, s=s)
            raw = ptx.encode_transaction(tx)
        assert bytes(ptx.recover_sender(U64(CHAIN_ID), tx)) == sender, "signature does not recover"
        self.raw.append(bytes(raw))
        self.objects.append(tx if isinstance(tx, ptx.LegacyTransaction) else bytes(raw))
        return tx

    def legacy(self, sender: bytes, to: Optional[bytes], value: int = 0, data: bytes = b"",
               gas: int = 21000, tip: int = GWEI) -> int:
        nonce = self._next_nonce(sender)
        tx = ptx.LegacyTransaction(
            nonce=U256(nonce), gas_price=Uint(self.base_fee + tip), gas=Uint(gas),
            to=to_field(to), value=U256(value), data=Bytes(data),
            v=U256(0), r=U256(0), s=U256(0),
        )
        self._finish(sender, tx)
        return nonce

    def access_list(self, sender: bytes, to: Optional[bytes], value: int = 0, data: bytes = b"",
                    gas: int = 30000, tip: int = GWEI,
                    access: Tuple[Tuple[bytes, Tuple[int, ...]], ...] = ()) -> int:
        nonce = self._next_nonce(sender)
        tx = ptx.AccessListTransaction(
            chain_id=U64(CHAIN_ID), nonce=U256(nonce), gas_price=Uint(self.base_fee + tip),
            gas=Uint(gas), to=to_field(to), value=U256(value), data=Bytes(data),
            access_list=tuple(
                ptx.Access(account=Address(a), slots=tuple(Bytes32(s.to_bytes(32, "big")) for s in slots))
                for a, slots in access
            ),
            y_parity=U256(0), r=U256(0), s=U256(0),
        )
        self._finish(sender, tx)
        return nonce

    def eip1559(self, sender: bytes, to: Optional[bytes], value: int = 0, data: bytes = b"",
                gas: int = 21000, tip: int = GWEI) -> int:
        nonce = self._next_nonce(sender)
        tx = ptx.FeeMarketTransaction(
            chain_id=U64(CHAIN_ID), nonce=U256(nonce), max_priority_fee_per_gas=Uint(tip),
            max_fee_per_gas=Uint(2 * self.base_fee + tip), gas=Uint(gas), to=to_field(to),
            value=U256(value), data=Bytes(data), access_list=(),
            y_parity=U256(0), r=U256(0), s=U256(0),
        )
        self._finish(sender, tx)
        return nonce


# --- Pre-states and block environments -------------------------------------------------------


def account(balance: int = 0, nonce: int = 0, code: bytes = b"",
            storage: Optional[Dict[int, int]] = None) -> Dict[str, Any]:
    return {"balance": balance, "nonce": nonce, "code": code, "storage": dict(storage or {})}


def system_contracts(
    beacon_storage: Optional[Dict[int, int]] = None,
    history_storage: Optional[Dict[int, int]] = None,
    withdrawal_storage: Optional[Dict[int, int]] = None,
    consolidation_storage: Optional[Dict[int, int]] = None,
) -> Dict[bytes, Dict[str, Any]]:
    """The four Prague system contracts, deployed (nonce 1) as on mainnet."""
    return {
        BEACON_ROOTS_ADDRESS: account(nonce=1, code=BEACON_ROOTS_CODE, storage=beacon_storage),
        HISTORY_STORAGE_ADDRESS: account(nonce=1, code=HISTORY_STORAGE_CODE, storage=history_storage),
        WITHDRAWAL_REQUEST_ADDRESS: account(
            nonce=1, code=WITHDRAWAL_REQUEST_CODE, storage=withdrawal_storage),
        CONSOLIDATION_REQUEST_ADDRESS: account(
            nonce=1, code=CONSOLIDATION_REQUEST_CODE, storage=consolidation_storage),
    }


def funded(*addresses: bytes, balance: int = 100 * ETHER) -> Dict[bytes, Dict[str, Any]]:
    return {a: account(balance=balance) for a in addresses}


# --- Headers and ancestors ---------------------------------------------------------------------

# Post-merge header constants and the commitments of an empty body, from the spec itself.
EMPTY_OMMERS_HASH = bytes(pfork.EMPTY_OMMER_HASH)
EMPTY_ROOT = bytes(EMPTY_TRIE_ROOT)
EMPTY_REQUESTS_HASH = bytes(compute_requests_hash([]))  # EIP-7685: sha256 of no request hashes
assert EMPTY_REQUESTS_HASH == hashlib.sha256(b"").digest()
assert EMPTY_ROOT == h(rlp.encode(b"")) and EMPTY_OMMERS_HASH == h(rlp.encode([]))


def make_header(*, parent_hash: bytes, coinbase: bytes, state_root: bytes, number: int,
                gas_limit: int, timestamp: int, prev_randao: bytes, base_fee: int,
                parent_beacon_block_root: bytes, excess_blob_gas: int = 0,
                transactions_root: bytes = EMPTY_ROOT, receipts_root: bytes = EMPTY_ROOT,
                bloom: bytes = bytes(256), gas_used: int = 0,
                withdrawals_root: bytes = EMPTY_ROOT,
                requests_hash: bytes = EMPTY_REQUESTS_HASH) -> Header:
    """A post-merge Prague header (the spec's type); the defaults are an empty body's."""
    return Header(
        parent_hash=Bytes32(parent_hash), ommers_hash=Bytes32(EMPTY_OMMERS_HASH),
        coinbase=Address(coinbase), state_root=Bytes32(state_root),
        transactions_root=Bytes32(transactions_root), receipt_root=Bytes32(receipts_root),
        bloom=Bytes256(bloom), difficulty=Uint(0), number=Uint(number), gas_limit=Uint(gas_limit),
        gas_used=Uint(gas_used), timestamp=U256(timestamp), extra_data=Bytes(b""),
        prev_randao=Bytes32(prev_randao), nonce=Bytes8(bytes(8)), base_fee_per_gas=Uint(base_fee),
        withdrawals_root=Bytes32(withdrawals_root), blob_gas_used=U64(0),
        excess_blob_gas=U64(excess_blob_gas),
        parent_beacon_block_root=Bytes32(parent_beacon_block_root),
        requests_hash=Bytes32(requests_hash),
    )


def header_hash(header: Header) -> bytes:
    return h(rlp.encode(header))


def header_json(header: Header) -> Dict[str, Any]:
    """A header in Ethereum JSON-RPC's field names, with its hash."""
    return {
        "parentHash": hx(header.parent_hash),
        "sha3Uncles": hx(header.ommers_hash),
        "miner": hx(header.coinbase),
        "stateRoot": hx(header.state_root),
        "transactionsRoot": hx(header.transactions_root),
        "receiptsRoot": hx(header.receipt_root),
        "logsBloom": hx(header.bloom),
        "difficulty": q(int(header.difficulty)),
        "number": q(int(header.number)),
        "gasLimit": q(int(header.gas_limit)),
        "gasUsed": q(int(header.gas_used)),
        "timestamp": q(int(header.timestamp)),
        "extraData": hx(header.extra_data),
        "mixHash": hx(header.prev_randao),
        "nonce": hx(header.nonce),
        "baseFeePerGas": q(int(header.base_fee_per_gas)),
        "withdrawalsRoot": hx(header.withdrawals_root),
        "blobGasUsed": q(int(header.blob_gas_used)),
        "excessBlobGas": q(int(header.excess_blob_gas)),
        "parentBeaconBlockRoot": hx(header.parent_beacon_block_root),
        "requestsHash": hx(header.requests_hash),
        "hash": hx(header_hash(header)),
    }


def validate_against_parent(parent: Header, header: Header) -> None:
    """The spec's own header validation of `header` as `parent`'s child (base fee, gas limit,
    excess blob gas, number, timestamp, parent hash, post-merge constants)."""
    chain = pfork.BlockChain(
        blocks=[Block(header=parent, transactions=(), ommers=(), withdrawals=())],
        state=pstate.State(), chain_id=U64(CHAIN_ID))
    pfork.validate_header(chain, header)


def parent_base_fee(base_fee: int, gas_limit: int) -> int:
    """The largest base fee of an empty parent (gasUsed 0, same gas limit) whose child's base
    fee is `base_fee` under EIP-1559 (7 gwei <- 8 gwei), found with the spec's own formula."""

    def child(fee: int) -> int:
        limit = Uint(gas_limit)
        return int(pfork.calculate_base_fee_per_gas(limit, limit, Uint(0), Uint(fee)))

    fee = max(0, base_fee * 8 // 7 - 16)
    while child(fee) < base_fee:  # child() is non-decreasing and grows by at most 1 per step
        fee += 1
    while child(fee + 1) == base_fee:
        fee += 1
    assert child(fee) == base_fee
    return fee


def make_env(name: str, number: int, coinbase: bytes, base_fee: int = 7 * GWEI,
             withdrawals: Tuple[Tuple[int, int, bytes, int], ...] = (),
             ancestors: int = 3, gas_limit: int = 30_000_000) -> Dict[str, Any]:
    """The block environment, with its `ancestors` ancestors' headers: empty blocks 12 s apart
    whose base fees lead to `base_fee`. All but the parent are built here; the parent, whose
    state root is the pre-state's, is added by `finish_ancestry` once the pre-state is known.
    `blockHashes` maps every ancestor's number to its hash (the parent's added with it)."""
    assert 1 <= ancestors <= number
    timestamp = 1_750_000_000 + 12 * number
    fees = [base_fee]
    for _ in range(ancestors):
        fees.append(parent_base_fee(fees[-1], gas_limit))
    fees = fees[1:][::-1]  # the ancestors' base fees, oldest first
    headers: List[Header] = []
    parent_hash = h(f"ancestor of {name}'s ancestors".encode())  # arbitrary: no header for it
    for i, n in enumerate(range(number - ancestors, number - 1)):
        header = make_header(
            parent_hash=parent_hash, coinbase=seeded_address(f"{name} ancestor {n} coinbase"),
            state_root=h(f"{name} ancestor {n} state root".encode()), number=n,
            gas_limit=gas_limit, timestamp=timestamp - 12 * (number - n),
            prev_randao=h(f"prevrandao {name} ancestor {n}".encode()), base_fee=fees[i],
            parent_beacon_block_root=h(f"beacon root {name} ancestor {n}".encode()))
        if headers:
            validate_against_parent(headers[-1], header)
        headers.append(header)
        parent_hash = header_hash(header)
    return {
        "coinbase": coinbase,
        "gasLimit": gas_limit,
        "number": number,
        "timestamp": timestamp,
        "baseFeePerGas": base_fee,
        "prevRandao": h(b"prevrandao " + name.encode()),
        "parentBeaconBlockRoot": h(b"beacon root " + name.encode()),
        "excessBlobGas": 0,
        "parentHash": None,  # set by finish_ancestry
        "blockHashes": {int(a.number): header_hash(a) for a in headers},
        "withdrawals": list(withdrawals),  # (index, validatorIndex, address, amount in gwei)
        "ancestors": headers,
        "parentBaseFee": fees[-1],
        "name": name,
    }


def finish_ancestry(env: Dict[str, Any], pre_state_root: bytes) -> None:
    """Adds the parent header (its state root is the pre-state's) to `env`."""
    assert env["parentHash"] is None, "the parent is added once"
    number, older = env["number"], env["ancestors"]
    name = env["name"]
    n = number - 1
    parent = make_header(
        parent_hash=header_hash(older[-1]) if older else h(f"ancestor of {name}'s ancestors".encode()),
        coinbase=seeded_address(f"{name} ancestor {n} coinbase"),
        state_root=pre_state_root, number=n, gas_limit=env["gasLimit"],
        timestamp=env["timestamp"] - 12, prev_randao=h(f"prevrandao {name} ancestor {n}".encode()),
        base_fee=env["parentBaseFee"],
        parent_beacon_block_root=h(f"beacon root {name} ancestor {n}".encode()))
    if older:
        validate_against_parent(older[-1], parent)
    env["ancestors"] = older + [parent]
    env["parentHash"] = header_hash(parent)
    env["blockHashes"][number - 1] = env["parentHash"]


def block_header(env: Dict[str, Any], result: Dict[str, Any]) -> Header:
    """The executed block's header: the environment plus the spec's results."""
    return make_header(
        parent_hash=env["parentHash"], coinbase=env["coinbase"],
        state_root=bytes.fromhex(result["stateRoot"][2:]), number=env["number"],
        gas_limit=env["gasLimit"], timestamp=env["timestamp"], prev_randao=env["prevRandao"],
        base_fee=env["baseFeePerGas"], parent_beacon_block_root=env["parentBeaconBlockRoot"],
        excess_blob_gas=env["excessBlobGas"],
        transactions_root=bytes.fromhex(result["txRoot"][2:]),
        receipts_root=bytes.fromhex(result["receiptsRoot"][2:]),
        bloom=bytes.fromhex(result["logsBloom"][2:]), gas_used=int(result["gasUsed"], 16),
        withdrawals_root=bytes.fromhex(result["withdrawalsRoot"][2:]),
        requests_hash=bytes.fromhex(result["requestsHash"][2:]))


def state_root_of(pre: Dict[bytes, Dict[str, Any]]) -> bytes:
    """The spec's state root of a pre-state, built with its own state functions (empty accounts
    included, as `run_t8n` loads them)."""
    state = pstate.State()
    for address, acc in pre.items():
        pstate.set_account(state, Address(address), Account(
            nonce=Uint(acc["nonce"]), balance=U256(acc["balance"]), code=Bytes(acc["code"])))
        for slot, value in acc["storage"].items():
            if value:
                key = Bytes32(slot.to_bytes(32, "big"))
                pstate.set_storage(state, Address(address), key, U256(value))
    return bytes(pstate.state_root(state))


def alloc_json(pre: Dict[bytes, Dict[str, Any]]) -> Dict[str, Any]:
    out = {}
    for address in sorted(pre):
        acc = pre[address]
        out[hx(address)] = {
            "balance": q(acc["balance"]),
            "nonce": q(acc["nonce"]),
            "code": hx(acc["code"]),
            "storage": {slot_key(k): q(v) for k, v in sorted(acc["storage"].items()) if v != 0},
        }
    return out


def env_json(env: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "coinbase": hx(env["coinbase"]),
        "gasLimit": q(env["gasLimit"]),
        "number": q(env["number"]),
        "timestamp": q(env["timestamp"]),
        "baseFeePerGas": q(env["baseFeePerGas"]),
        "prevRandao": hx(env["prevRandao"]),
        "parentBeaconBlockRoot": hx(env["parentBeaconBlockRoot"]),
        "excessBlobGas": q(env["excessBlobGas"]),
        "parentHash": hx(env["parentHash"]),
        "blockHashes": {q(n): hx(bh) for n, bh in sorted(env["blockHashes"].items())},
        "withdrawals": [
            {"index": q(i), "validatorIndex": q(v), "address": hx(a), "amount": q(amt)}
            for i, v, a, amt in env["withdrawals"]
        ],
    }


def t8n_env(env: Dict[str, Any]) -> Dict[str, Any]:
    """The fixture env in the t8n tool's own field names."""
    e = env_json(env)
    return {
        "currentCoinbase": e["coinbase"],
        "currentGasLimit": e["gasLimit"],
        "currentNumber": e["number"],
        "currentTimestamp": e["timestamp"],
        "currentBaseFee": e["baseFeePerGas"],
        "currentRandom": e["prevRandao"],
        "parentBeaconBlockRoot": e["parentBeaconBlockRoot"],
        "currentExcessBlobGas": e["excessBlobGas"],
        "blockHashes": e["blockHashes"],
        "withdrawals": e["withdrawals"],
    }


def normalize_post(alloc: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for address in sorted(alloc):
        acc = alloc[address]
        storage = {
            "0x" + bytes.fromhex(k[2:].rjust(64, "0")).hex(): q(int(v, 16))
            for k, v in acc.get("storage", {}).items()
            if int(v, 16) != 0
        }
        out[address.lower()] = {
            "balance": q(int(acc.get("balance", "0x0"), 16)),
            "nonce": q(int(acc.get("nonce", "0x0"), 16)),
            "code": acc.get("code", "0x"),
            "storage": dict(sorted(storage.items())),
        }
    return out


# --- Running the spec ------------------------------------------------------------------------

_PARSER = create_parser()


def run_t8n(pre: Dict[bytes, Dict[str, Any]], env: Dict[str, Any], txs: Txs,
            cache: ForkCache) -> Tuple[Dict[str, Any], Dict[str, Any], str, str]:
    """Executes the block with the spec's t8n; returns (result, post alloc, body, pre root)."""
    pre_json = alloc_json(pre)
    # t8n refuses empty accounts in a post-merge pre-state (EIP-7523); such accounts are
    # inserted into the loaded state below, with the spec's own state functions.
    empty = [a for a, acc in pre.items()
             if acc["balance"] == 0 and acc["nonce"] == 0 and not acc["code"]]
    assert all(not pre[a]["storage"] for a in empty), "an empty account cannot have storage"
    loadable = {k: v for k, v in pre_json.items() if bytes.fromhex(k[2:]) not in empty}
    stdin = {"alloc": loadable, "env": t8n_env(env), "txs": hx(rlp.encode(txs.objects))}
    with tempfile.TemporaryDirectory() as outdir:
        options = _PARSER.parse_args([
            "t8n", "--input.alloc=stdin", "--input.env=stdin", "--input.txs=stdin",
            "--output.alloc=stdout", "--output.result=stdout", "--output.body=stdout",
            f"--output.basedir={outdir}", f"--state.fork={FORK}", f"--state.chainid={CHAIN_ID}",
        ])
        out = io.StringIO()
        tool = T8N(options, out, io.StringIO(json.dumps(stdin)), cache)
        for address in empty:
            tool.fork.set_account(tool.alloc.state, Address(address), tool.fork.EMPTY_ACCOUNT)
        pre_root = hx(tool.fork.state_root(tool.alloc.state))
        status = tool.run()
    assert status == 0, f"t8n exited with {status}"
    output = json.loads(out.getvalue())
    return output["result"], output["alloc"], output["body"], pre_root


def execute(name: str, description: str, pre: Dict[bytes, Dict[str, Any]],
            env: Dict[str, Any], txs: Txs, cache: ForkCache,
            receipts: Optional[List[Any]] = None) -> Dict[str, Any]:
    """Executes the block; returns its fixture (`receipts`, if given, gets t8n's receipts)."""
    pre_root = state_root_of(pre)
    finish_ancestry(env, pre_root)
    result, post_alloc, body, loaded_root = run_t8n(pre, env, txs, cache)
    assert loaded_root == hx(pre_root), f"{name}: t8n loaded another pre-state"
    if result.get("rejected"):
        raise SystemExit(f"{name}: the spec rejected transactions: {result['rejected']}")
    if "blockException" in result:
        raise SystemExit(f"{name}: the spec rejected the block: {result['blockException']}")
    assert body == hx(rlp.encode(txs.objects)), f"{name}: t8n re-encoded the transactions differently"
    assert len(result["receipts"]) == len(txs.raw)
    if receipts is not None:
        receipts.extend(result["receipts"])
    requests = result.get("requests", [])
    expected_requests_hash = hashlib.sha256(
        b"".join(hashlib.sha256(bytes.fromhex(r[2:])).digest() for r in requests)
    ).hexdigest()
    assert result["requestsHash"] == "0x" + expected_requests_hash, f"{name}: requestsHash"
    ancestors = env["ancestors"]
    header = block_header(env, result)
    validate_against_parent(ancestors[-1], header)
    assert int(ancestors[-1].number) == env["number"] - 1
    assert bytes(ancestors[-1].state_root) == pre_root
    assert env["blockHashes"] == {int(a.number): header_hash(a) for a in ancestors}
    return {
        "name": name,
        "description": description,
        "fork": FORK,
        "chainId": CHAIN_ID,
        "ancestors": [header_json(a) for a in ancestors],
        "pre": alloc_json(pre),
        "preStateRoot": hx(pre_root),
        "env": env_json(env),
        "txs": [hx(raw) for raw in txs.raw],
        "result": {
            "stateRoot": result["stateRoot"],
            "receiptsRoot": result["receiptsRoot"],
            "txRoot": result["txRoot"],
            "gasUsed": result["gasUsed"],
            "logsBloom": result["logsBloom"],
            "withdrawalsRoot": result["withdrawalsRoot"],
            "requestsHash": result["requestsHash"],
            "requests": requests,
            "rejected": [],
        },
        "header": header_json(header),
        "post": normalize_post(post_alloc),
    }


def storage_of(fixture: Dict[str, Any], which: str, address: bytes) -> Dict[int, int]:
    acc = fixture[which].get(hx(address))
    assert acc is not None, f"{hx(address)} missing from {which}"
    return {int(k, 16): int(v, 16) for k, v in acc["storage"].items()}


def assert_two_child_branch(keys: List[bytes], removed: bytes, sibling: bytes, what: str) -> str:
    """Asserts that in the secure trie over `keys` (hashed), `removed` and `sibling` are the
    only keys below their longest common prefix, i.e. the only two children of one branch
    node, so removing `removed` collapses that branch. Returns the branch path (nibbles)."""
    hashed = {k: nibbles(h(k)) for k in keys}
    path = common_prefix(hashed[removed], hashed[sibling])
    under = [k for k, p in hashed.items() if p.startswith(path)]
    assert sorted(under) == sorted([removed, sibling]), f"{what}: branch {path!r} has {len(under)} keys"
    assert len(path) >= 1, f"{what}: the pair must sit below the root branch"
    return path


# --- The fixtures ----------------------------------------------------------------------------


def fixture_transfers(cache: ForkCache) -> Dict[str, Any]:
    coinbase = seeded_address("transfers coinbase")
    existing = seeded_address("transfers existing recipient")
    new1, new2 = seeded_address("transfers new 1"), seeded_address("transfers new 2")
    pre = {**system_contracts(), **funded(ALICE, BOB, CAROL), existing: account(balance=1)}
    env = make_env("transfers", 0x4E20, coinbase)
    txs = Txs(pre, env["baseFeePerGas"])
    txs.legacy(ALICE, existing, value=ETHER)
    txs.access_list(BOB, new1, value=2 * ETHER, access=((existing, (0, 1)),), gas=21000 + 2400 + 2 * 1900)
    txs.eip1559(CAROL, new2, value=3 * ETHER + 5)
    txs.eip1559(ALICE, new1, value=7, tip=0)
    txs.legacy(BOB, ALICE, value=11)
    txs.eip1559(CAROL, existing, value=0)
    fx = execute("transfers", "legacy, EIP-2930 and EIP-1559 value transfers, to existing and new accounts",
                 pre, env, txs, cache)
    assert int(fx["post"][hx(new1)]["balance"], 16) == 2 * ETHER + 7
    assert int(fx["post"][hx(new2)]["balance"], 16) == 3 * ETHER + 5
    assert hx(new1) not in fx["pre"] and hx(coinbase) in fx["post"]
    return fx


def fixture_contract_creation(cache: ForkCache) -> Dict[str, Any]:
    coinbase = seeded_address("creation coinbase")
    # The child a factory deploys with CREATE2: its constructor writes two slots.
    child_init = asm(0xBEEF, 0, "SSTORE", "CALLER", 1, "SSTORE", 1, 0, "RETURN")
    # Factory runtime: CREATE2(salt = calldata word 0) of the embedded child; slot 3 = child.
    def factory_prefix(child_offset: int) -> bytes:
        size = len(child_init).to_bytes(2, "big")
        return asm(size, child_offset.to_bytes(2, "big"), 0, "CODECOPY",
                   0, "CALLDATALOAD", size, 0, 0, "CREATE2", 3, "SSTORE", "STOP")

    factory_runtime = factory_prefix(len(factory_prefix(0))) + child_init
    # Factory constructor: slot 0 = 0x2a, slot 1 = deployer, slot 2 = msg.value.
    factory_init = initcode(
        factory_runtime, asm(0x2A, 0, "SSTORE", "CALLER", 1, "SSTORE", "CALLVALUE", 2, "SSTORE"))
    pre = {**system_contracts(), **funded(ALICE, BOB)}
    env = make_env("contract_creation", 0x4E21, coinbase)
    txs = Txs(pre, env["baseFeePerGas"])
    nonce = txs.eip1559(ALICE, None, value=1000, data=factory_init, gas=400_000)
    factory = bytes(compute_contract_address(Address(ALICE), Uint(nonce)))
    salt = 0x5A17
    txs.legacy(BOB, factory, data=salt.to_bytes(32, "big"), gas=200_000)
    child = bytes(compute_create2_contract_address(
        Address(factory), Bytes32(salt.to_bytes(32, "big")), Bytes(child_init)))
    fx = execute("contract_creation",
                 "a CREATE transaction whose constructor writes storage, then a CREATE2 from that factory",
                 pre, env, txs, cache)
    assert storage_of(fx, "post", factory) == {0: 0x2A, 1: word(ALICE), 2: 1000,
                                                3: word(child)}
    assert fx["post"][hx(factory)]["nonce"] == "0x2"  # 1 at creation (EIP-161), +1 for CREATE2
    assert fx["post"][hx(child)]["code"] == "0x00" and fx["post"][hx(child)]["nonce"] == "0x1"
    assert storage_of(fx, "post", child) == {0: 0xBEEF, 1: word(factory)}
    return fx


def fixture_storage_writes_and_zero(cache: ForkCache) -> Dict[str, Any]:
    coinbase = seeded_address("storage coinbase")
    contract = seeded_address("storage contract")
    removed = 0x01  # zeroed: collapses the branch it shares with `sibling`
    overwritten, zeroed, kept, same = 0x02, 0x03, 0x04, 0x05
    new_slots = [0x06, 0x07]
    transient = 0x08  # written and zeroed again in the same transaction: never appears
    others = [overwritten, zeroed, kept, same, transient] + new_slots

    def key(slot: int) -> bytes:
        return slot.to_bytes(32, "big")

    # Search a sibling slot whose hashed key shares a prefix with `removed`'s that no other
    # slot of the pre- or post-state has.
    sibling = next(
        s for s in range(0x100, 0x100000)
        if len(common_prefix(nibbles(h(key(s))), nibbles(h(key(removed))))) >= 2
        and not any(nibbles(h(key(o))).startswith(common_prefix(nibbles(h(key(s))), nibbles(h(key(removed)))))
                    for o in others)
    )
    pre_storage = {removed: 0x1111, sibling: 0x2222, overwritten: 0x3333, zeroed: 0x4444,
                   kept: 0x5555, same: 0x6666}
    path = assert_two_child_branch([key(s) for s in list(pre_storage) + new_slots + [transient]],
                                   key(removed), key(sibling), "storage trie")
    pre = {**system_contracts(), **funded(ALICE, BOB),
           contract: account(nonce=1, code=STORE_PAIRS_CODE, storage=pre_storage)}
    env = make_env("storage_writes_and_zero", 0x4E22, coinbase)
    txs = Txs(pre, env["baseFeePerGas"])
    txs.eip1559(ALICE, contract, gas=200_000, data=store_pairs(
        (new_slots[0], 0xA0), (overwritten, 0x3334), (removed, 0), (transient, 9), (same, 0x6666),
        (transient, 0)))
    txs.access_list(BOB, contract, gas=200_000, data=store_pairs(
        (zeroed, 0), (new_slots[1], 0xB0), (new_slots[0], 0xA1)))
    fx = execute("storage_writes_and_zero",
                 f"new slots, overwrites and zeroed slots; zeroing slot {removed:#x} collapses the "
                 f"storage-trie "
                 f"branch at nibble path {path!r} whose other child is the untouched slot {sibling:#x}",
                 pre, env, txs, cache)
    post = storage_of(fx, "post", contract)
    assert post == {sibling: 0x2222, overwritten: 0x3334, kept: 0x5555, same: 0x6666,
                    new_slots[0]: 0xA1, new_slots[1]: 0xB0}, post
    assert_two_child_branch([key(s) for s in pre_storage], key(removed), key(sibling), "storage trie (pre)")
    assert not any(nibbles(h(key(s))).startswith(path) for s in post if s != sibling)
    assert all(key(sibling).hex() not in raw for raw in fx["txs"]), "the sibling slot must stay untouched"
    return fx


def fixture_selfdestruct_in_creation(cache: ForkCache) -> Dict[str, Any]:
    coinbase = seeded_address("selfdestruct coinbase")
    beneficiary = seeded_address("selfdestruct beneficiary")
    old = seeded_address("selfdestruct old contract")  # pre-existing: SELFDESTRUCT only moves its balance
    factory = seeded_address("selfdestruct factory")
    dying_init = selfdestruct_to(beneficiary)  # init code that self-destructs before returning code
    # Factory: CREATE(the embedded dying init code), discard the address.
    factory_code = asm(len(dying_init), 13, 0, "CODECOPY", len(dying_init), 0, 0, "CREATE", "POP", "STOP")
    assert len(factory_code) == 13  # == the offset pushed for CODECOPY
    factory_code += dying_init
    pre = {
        **system_contracts(), **funded(ALICE, BOB),
        beneficiary: account(balance=1),
        old: account(balance=0x777, nonce=1, code=selfdestruct_to(beneficiary), storage={1: 1}),
        factory: account(nonce=1, code=factory_code),
    }
    env = make_env("selfdestruct_in_creation", 0x4E23, coinbase)
    txs = Txs(pre, env["baseFeePerGas"])
    n0 = txs.eip1559(ALICE, None, value=0x1000, data=dying_init, gas=100_000)
    created_by_tx = bytes(compute_contract_address(Address(ALICE), Uint(n0)))
    txs.eip1559(BOB, factory, gas=100_000)
    created_by_factory = bytes(compute_contract_address(Address(factory), Uint(1)))
    txs.legacy(BOB, old, gas=100_000)
    # Created in one transaction and self-destructed in a later one of the same block: stays.
    n3 = txs.eip1559(ALICE, None, value=0x20, data=initcode(selfdestruct_to(beneficiary)), gas=100_000)
    later = bytes(compute_contract_address(Address(ALICE), Uint(n3)))
    txs.eip1559(BOB, later, gas=100_000)
    fx = execute("selfdestruct_in_creation",
                 "EIP-6780: contracts that SELFDESTRUCT in their creating transaction (a CREATE transaction "
                 "and a factory's CREATE) vanish; a pre-existing contract and one created earlier in "
                 "the block only lose their balance",
                 pre, env, txs, cache)
    post = fx["post"]
    assert hx(created_by_tx) not in post and hx(created_by_factory) not in post
    assert post[hx(factory)]["nonce"] == "0x2"
    assert post[hx(old)] == {"balance": "0x0", "nonce": "0x1", "code": hx(selfdestruct_to(beneficiary)),
                             "storage": {slot_key(1): "0x1"}}
    assert post[hx(later)]["balance"] == "0x0" and post[hx(later)]["code"] == hx(selfdestruct_to(beneficiary))
    assert int(post[hx(beneficiary)]["balance"], 16) == 1 + 0x1000 + 0x777 + 0x20
    return fx


def fixture_branch_collapse(cache: ForkCache) -> Dict[str, Any]:
    coinbase = seeded_address("branch coinbase")
    empty = seeded_address("branch empty account")
    poker = seeded_address("branch poker")  # SELFDESTRUCTs its 0 wei to `empty`
    base = {**system_contracts(), **funded(ALICE), coinbase: account(balance=ETHER),
            poker: account(nonce=1, code=selfdestruct_to(empty)), empty: account()}
    # Search a sibling whose hashed address shares a prefix with the empty account's that no
    # other account of the pre- or post-state has.
    sibling = None
    for i in range(1_000_000):
        candidate = seeded_address(f"branch sibling {i}")
        path = common_prefix(nibbles(h(candidate)), nibbles(h(empty)))
        if len(path) >= 2 and not any(nibbles(h(a)).startswith(path) for a in base if a != empty):
            sibling = candidate
            break
    assert sibling is not None
    pre = {**base, sibling: account(balance=3 * ETHER)}
    path = assert_two_child_branch(list(pre), empty, sibling, "account trie")
    env = make_env("branch_collapse", 0x4E24, coinbase)
    txs = Txs(pre, env["baseFeePerGas"])
    txs.eip1559(ALICE, poker, gas=60_000)
    fx = execute("branch_collapse",
                 f"an empty pre-state account is touched (the 0-wei beneficiary of a SELFDESTRUCT) and "
                 f"deleted; "
                 f"it was one of the two children of the account-trie branch at nibble path {path!r}, whose "
                 f"other child is an account the block never touches",
                 pre, env, txs, cache)
    post_accounts = [bytes.fromhex(a[2:]) for a in fx["post"]]
    assert hx(empty) not in fx["post"], "the empty account must be deleted"
    assert fx["post"][hx(sibling)] == fx["pre"][hx(sibling)], "the sibling must be untouched"
    assert not any(nibbles(h(a)).startswith(path) for a in post_accounts if a != sibling)
    blob = json.dumps([fx["txs"], fx["env"], [acc["code"] for acc in fx["pre"].values()]])
    assert sibling.hex() not in blob, "nothing in the block may reference the sibling"
    return fx


def fixture_system_calls(cache: ForkCache) -> Dict[str, Any]:
    coinbase = seeded_address("system coinbase")
    number = 0x4E25  # > HISTORY_SERVE_WINDOW: the EIP-2935 ring buffer has wrapped
    env = make_env("system_calls", number, coinbase, ancestors=4)
    parent_ts = env["timestamp"] - 12
    beacon = {parent_ts % BEACON_ROOTS_BUFFER: parent_ts,
              parent_ts % BEACON_ROOTS_BUFFER + BEACON_ROOTS_BUFFER: word(h(b"older beacon root"))}
    # What the parent's and the grandparent's EIP-2935 calls stored: their parents' hashes.
    history = {n % HISTORY_SERVE_WINDOW: word(env["blockHashes"][n]) for n in (number - 3, number - 2)}
    pre = {
        **system_contracts(beacon_storage=beacon, history_storage=history,
                           consolidation_storage={0: EXCESS_INHIBITOR}),
        **funded(ALICE, BOB),
    }
    txs = Txs(pre, env["baseFeePerGas"])
    pubkey = bytes(range(1, 49))
    amount_gwei = 0x1234
    # EIP-7002 withdrawal request: 48-byte pubkey || 8-byte big-endian amount; fee 1 wei at excess 0.
    txs.eip1559(ALICE, WITHDRAWAL_REQUEST_ADDRESS, value=1, gas=300_000,
                data=pubkey + amount_gwei.to_bytes(8, "big"))
    txs.eip1559(BOB, ALICE, value=1)
    fx = execute("system_calls",
                 "EIP-4788 and EIP-2935 system calls write the beacon root and the parent hash; an EIP-7002 "
                 "withdrawal request is queued and dequeued into the requests; the EIP-7251 contract's "
                 "EXCESS_INHIBITOR is reset (its slot 0 deleted)",
                 pre, env, txs, cache)
    ts = env["timestamp"]
    beacon_post = storage_of(fx, "post", BEACON_ROOTS_ADDRESS)
    assert beacon_post[ts % BEACON_ROOTS_BUFFER] == ts
    assert beacon_post[ts % BEACON_ROOTS_BUFFER + BEACON_ROOTS_BUFFER] == word(env["parentBeaconBlockRoot"])
    history_post = storage_of(fx, "post", HISTORY_STORAGE_ADDRESS)
    assert history_post[(number - 1) % HISTORY_SERVE_WINDOW] == word(env["parentHash"])
    assert len(history_post) == 3
    assert storage_of(fx, "post", CONSOLIDATION_REQUEST_ADDRESS) == {}
    expected_request = "0x01" + ALICE.hex() + pubkey.hex() + amount_gwei.to_bytes(8, "little").hex()
    assert fx["result"]["requests"] == [expected_request], fx["result"]["requests"]
    assert int(fx["post"][hx(WITHDRAWAL_REQUEST_ADDRESS)]["balance"], 16) == 1
    return fx


def fixture_withdrawals(cache: ForkCache) -> Dict[str, Any]:
    coinbase = seeded_address("withdrawals coinbase")
    existing = seeded_address("withdrawals existing")
    fresh = seeded_address("withdrawals new")
    contract = seeded_address("withdrawals contract")
    withdrawals = (
        (0x100, 0x10, existing, 0x1000),
        (0x101, 0x11, fresh, 32 * GWEI),
        (0x102, 0x12, contract, 0x3),  # no code runs for a withdrawal
        (0x103, 0x13, existing, 0x1),
    )
    pre = {**system_contracts(), **funded(ALICE), existing: account(balance=5),
           contract: account(nonce=1, code=selfdestruct_to(existing))}
    env = make_env("withdrawals", 0x4E26, coinbase, withdrawals=withdrawals)
    txs = Txs(pre, env["baseFeePerGas"])
    txs.eip1559(ALICE, existing, value=10)
    fx = execute("withdrawals", "withdrawals to an existing account (twice), a new account and a contract, "
                 "in a block with one transaction", pre, env, txs, cache)
    post = fx["post"]
    assert int(post[hx(existing)]["balance"], 16) == 5 + 10 + (0x1000 + 0x1) * GWEI
    assert int(post[hx(fresh)]["balance"], 16) == 32 * GWEI * GWEI
    assert int(post[hx(contract)]["balance"], 16) == 3 * GWEI
    return fx


FIXTURES = [
    fixture_transfers,
    fixture_contract_creation,
    fixture_storage_writes_and_zero,
    fixture_selfdestruct_in_creation,
    fixture_branch_collapse,
    fixture_system_calls,
    fixture_withdrawals,
]


# --- Bench blocks (--bench) --------------------------------------------------------------------
#
# Mainnet-like blocks of about 1, 10 and 30 Mgas for timing the verifier: ETH transfers (to new
# accounts, to existing ones, between senders), calls that write fresh storage slots and
# overwrite or zero pre-existing ones, and hashing loops that also read BLOCKHASH; many senders.
# Each transaction's gas is planned with the cost model below (Prague schedule); the spec must
# use exactly the planned gas for every transaction, and the block must land within 2% of its
# target. The pre-state is the same size for all three (2000 untouched-or-not EOAs, two
# storage contracts with 4000 and 1000 slots); the generator prints what each block touches.

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

BENCH_GAS_LIMIT = 36_000_000
BENCH_STORE_SLOTS = (4000, 1000)  # pre-existing slots of the two storage contracts
BENCH_EXISTING_ACCOUNTS = 2000  # funded EOAs in the pre-state; transfers reach some of them
BENCH_WITHDRAWALS = 16
BENCH_SHARES = {"transfers": 0.35, "storage": 0.40}  # the rest of the target: hashing loops
BENCH_HASHING_TX_GAS = 400_000  # about; the hashing loops' share is split into such txs
BENCH_GAS_TOLERANCE = 0.02

# Hashing loop. Calldata: word 0 = iterations n, word 1 = depth d (1..3).
# mem[0:32] = BLOCKHASH(NUMBER - d), mem[32:64] = CALLER; n times
# mem[0] = keccak256(mem[0:64]) ^ (n * K); finally storage[CALLER] = mem[0].
HASHING_CODE = asm(
    0x20, "CALLDATALOAD", "NUMBER", "SUB", "BLOCKHASH", 0, "MSTORE",
    "CALLER", 0x20, "MSTORE",
    0, "CALLDATALOAD",
    ":loop", "JUMPDEST",
    "DUP1", "ISZERO", "@end", "JUMPI",
    "DUP1", (0x9E3779B97F4A7C15).to_bytes(8, "big"), "MUL", 0x40, 0, "KECCAK256", "XOR", 0, "MSTORE",
    1, "SWAP1", "SUB",
    "@loop", "JUMP",
    ":end", "JUMPDEST", "POP",
    0, "MLOAD", "CALLER", "SSTORE", "STOP",
)

# The cost model (Prague): static opcode costs of the code paths above.
G_TX, G_COLD_SLOAD, G_SSET, G_SRESET, R_SCLEAR = 21000, 2100, 20000, 2900, 4800
G_ACCESS_ADDRESS, G_ACCESS_SLOT = 2400, 1900
STORE_PAIRS_ENTRY, STORE_PAIRS_PER_PAIR, STORE_PAIRS_EXIT = 2, 60, 26
HASHING_SETUP, HASHING_PER_ITERATION, HASHING_EXIT = 55, 106, 30


def calldata_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def register_key(seed: str) -> bytes:
    """A deterministic devnet test key (public; never use with real funds); returns its address."""
    key = word(h(b"avs-exex bench key: " + seed.encode())) % SECP256K1_N
    assert key != 0
    address = address_of(key)
    KEYS[address] = key
    return address


def store_pairs_gas(pairs: List[Tuple[int, int]], original: Dict[int, int], warm: bool) -> int:
    """Gas of one STORE_PAIRS_CODE call writing each (distinct) slot once, slots cold unless
    `warm` (in the access list, paid for in the intrinsic gas)."""
    data = store_pairs(*pairs)
    gas = G_TX + calldata_gas(data) + STORE_PAIRS_ENTRY + STORE_PAIRS_EXIT
    if warm:
        gas += G_ACCESS_ADDRESS + G_ACCESS_SLOT * len(pairs)
    refund = 0
    for slot, value in pairs:
        was = original.get(slot, 0)
        gas += STORE_PAIRS_PER_PAIR + (0 if warm else G_COLD_SLOAD)
        gas += G_SSET if was == 0 else G_SRESET
        if was != 0 and value == 0:
            refund += R_SCLEAR
    assert len({slot for slot, _ in pairs}) == len(pairs)
    return gas - min(refund, gas // 5)


def hashing_gas(data: bytes, iterations: int, slot_was_zero: bool) -> int:
    return (G_TX + calldata_gas(data) + HASHING_SETUP + HASHING_PER_ITERATION * iterations
            + HASHING_EXIT + G_COLD_SLOAD + (G_SSET if slot_was_zero else G_SRESET))


def bench_block(cache: ForkCache, name: str, number: int, target: int) -> Dict[str, Any]:
    rng = random.Random(f"avs-exex bench {name}")
    coinbase = seeded_address(f"{name} coinbase")
    stores = [seeded_address(f"bench store {i}") for i in range(len(BENCH_STORE_SLOTS))]
    hasher = seeded_address("bench hasher")
    existing = [seeded_address(f"bench existing {i}") for i in range(BENCH_EXISTING_ACCOUNTS)]
    store_storage = [
        {word(h(f"bench store {i} slot {j}".encode())): rng.randrange(1, 2**96) for j in range(n)}
        for i, n in enumerate(BENCH_STORE_SLOTS)
    ]
    # Untouched pre-existing slots, per store, in a random order.
    unused = [rng.sample(sorted(storage), len(storage)) for storage in store_storage]
    fresh_slots = (word(h(f"{name} fresh slot {i}".encode())) for i in range(10**9))

    # The plan: a list of (kind, parameters, planned gas).
    plan: List[Tuple[str, Any, int]] = []
    n_transfers = round(BENCH_SHARES["transfers"] * target / G_TX)
    plan += [("transfer", None, G_TX)] * n_transfers
    storage_gas = 0
    while storage_gas < BENCH_SHARES["storage"] * target - 150_000:
        which = 0 if rng.random() < 0.8 else 1
        pairs = [(next(fresh_slots), rng.randrange(1, 2**96)) for _ in range(rng.randint(4, 16))]
        pairs += [(unused[which].pop(), rng.randrange(1, 2**96)) for _ in range(rng.randint(4, 16))]
        pairs += [(unused[which].pop(), 0) for _ in range(rng.randint(0, 4))]
        rng.shuffle(pairs)
        warm = rng.random() < 0.25
        gas = store_pairs_gas(pairs, store_storage[which], warm)
        plan.append(("store", (which, pairs, warm), gas))
        storage_gas += gas
    hashing_budget = target - n_transfers * G_TX - storage_gas
    n_hashing = max(1, round(hashing_budget / BENCH_HASHING_TX_GAS))
    plan += [("hashing", None, hashing_budget // n_hashing)] * n_hashing
    rng.shuffle(plan)

    senders = [register_key(f"{name} sender {i}") for i in range(max(4, len(plan) // 4))]
    withdrawals = tuple(
        (1_000_000 + i, rng.randrange(1, 2_000_000),
         rng.choice(existing) if i % 2 == 0 else seeded_address(f"{name} withdrawal {i}"),
         rng.randrange(10**6, 3 * 10**7))
        for i in range(BENCH_WITHDRAWALS)
    )
    env = make_env(name, number, coinbase, withdrawals=withdrawals, gas_limit=BENCH_GAS_LIMIT)
    # What the parent's and grandparent's EIP-2935 calls stored.
    history = {n % HISTORY_SERVE_WINDOW: word(env["blockHashes"][n]) for n in (number - 3, number - 2)}
    pre = {
        **system_contracts(history_storage=history),
        **{a: account(balance=rng.randrange(1, 10 * ETHER)) for a in existing},
        **funded(*senders),
        **{store: account(nonce=1, code=STORE_PAIRS_CODE, storage=storage)
           for store, storage in zip(stores, store_storage)},
        hasher: account(nonce=1, code=HASHING_CODE),
    }
    txs = Txs(pre, env["baseFeePerGas"])
    planned, planned_per_tx = 0, []
    new_accounts, hashed_by = [], set()
    touched_slots: Dict[bytes, set] = {store: set() for store in stores}
    touched_accounts = {coinbase, *(w[2] for w in withdrawals), *system_contracts()}
    for i, (kind, params, gas) in enumerate(plan):
        sender = rng.choice(senders)
        touched_accounts.add(sender)
        if kind == "transfer":
            r = rng.random()
            if r < 0.4:
                to = seeded_address(f"{name} new account {i}")
                new_accounts.append(to)
            elif r < 0.85:
                to = rng.choice(existing)
            else:
                to = rng.choice(senders)
            value = rng.randrange(10**15, 10**18)
            kind_r = rng.random()
            if kind_r < 0.2:
                txs.legacy(sender, to, value=value)
            elif kind_r < 0.3:
                txs.access_list(sender, to, value=value, gas=G_TX)
            else:
                txs.eip1559(sender, to, value=value, tip=rng.randrange(GWEI // 10, 3 * GWEI))
            touched_accounts.add(to)
        elif kind == "store":
            which, pairs, warm = params
            store = stores[which]
            data = store_pairs(*pairs)
            limit = gas + gas // 4 + 10_000  # the refund is only subtracted at the end
            if warm:
                txs.access_list(sender, store, data=data, gas=limit,
                                access=((store, tuple(slot for slot, _ in pairs)),))
            else:
                txs.eip1559(sender, store, data=data, gas=limit,
                            tip=rng.randrange(GWEI // 10, 3 * GWEI))
            touched_accounts.add(store)
            touched_slots[store].update(slot for slot, _ in pairs)
        else:
            depth = 1 + i % 3
            fixed = hashing_gas(store_pairs((1, depth)), 0, sender not in hashed_by)
            iterations = max(1, (gas - fixed) // HASHING_PER_ITERATION)
            data = store_pairs((iterations, depth))
            gas = hashing_gas(data, iterations, sender not in hashed_by)
            txs.eip1559(sender, hasher, data=data, gas=gas + 10_000)
            hashed_by.add(sender)
            touched_accounts.add(hasher)
        planned += gas
        planned_per_tx.append(gas)
    receipts: List[Any] = []
    stats = (f"{len(txs.raw)} txs from {len(senders)} senders: {n_transfers} transfers "
             f"({len(new_accounts)} to new accounts), "
             f"{sum(1 for k, _, _ in plan if k == 'store')} storage calls writing "
             f"{sum(len(s) for s in touched_slots.values())} slots, {n_hashing} hashing loops; "
             f"{BENCH_WITHDRAWALS} withdrawals")
    fx = execute(name, f"bench block, about {target // 10**6} Mgas: {stats}", pre, env, txs, cache,
                 receipts)
    gas_used = int(fx["result"]["gasUsed"], 16)
    cumulative = [0] + [int(r["cumulativeGasUsed"], 16) for r in receipts]
    used = [b - a for a, b in zip(cumulative, cumulative[1:])]
    off = [(i, plan[i][0], p, u) for i, (p, u) in enumerate(zip(planned_per_tx, used)) if p != u]
    assert not off, (f"{name}: the cost model is off for {len(off)} txs "
                     f"(index, kind, planned, used): {off[:5]}")
    assert gas_used == planned
    assert abs(gas_used - target) <= BENCH_GAS_TOLERANCE * target, f"{name}: {gas_used} gas"
    assert all(r["succeeded"] is True for r in receipts), f"{name}: a transaction failed"
    post = fx["post"]
    for kind, params, _ in plan:
        if kind == "store":
            post_storage = storage_of(fx, "post", stores[params[0]])
            assert all(post_storage.get(slot, 0) == value for slot, value in params[1])
    assert len(storage_of(fx, "post", hasher)) == len(hashed_by)
    assert all(hx(a) in post for a in new_accounts)
    # Witness-relevant sizes, for the report.
    def changed_slots(address: bytes) -> int:
        before, after = fx["pre"][hx(address)]["storage"], post[hx(address)]["storage"]
        return sum(1 for slot in set(before) | set(after) if before.get(slot) != after.get(slot))

    fx_stats = {
        "gasUsed": gas_used, "txs": len(txs.raw), "senders": len(senders),
        "transfers": n_transfers, "newAccounts": len(new_accounts),
        "storageCalls": sum(1 for k, _, _ in plan if k == "store"),
        "hashingCalls": n_hashing, "hashingSlots": len(hashed_by),
        "accountsTouched": len(touched_accounts),
        "storeSlotsTouched": {hx(s): len(v) for s, v in touched_slots.items()},
        "systemSlotsWritten": sum(changed_slots(a) for a in system_contracts()),
        "preAccounts": len(fx["pre"]),
        "preSlots": sum(len(a["storage"]) for a in fx["pre"].values()),
    }
    print(f"blocks.py: {name}: {json.dumps(fx_stats)}", file=sys.stderr)
    return fx


def bench_1mgas(cache: ForkCache) -> Dict[str, Any]:
    return bench_block(cache, "bench_1mgas", 0x5000, 1_000_000)


def bench_10mgas(cache: ForkCache) -> Dict[str, Any]:
    return bench_block(cache, "bench_10mgas", 0x5001, 10_000_000)


def bench_30mgas(cache: ForkCache) -> Dict[str, Any]:
    return bench_block(cache, "bench_30mgas", 0x5002, 30_000_000)


BENCH = [bench_1mgas, bench_10mgas, bench_30mgas]


def main() -> int:
    bench = sys.argv[1:] == ["--bench"]
    if sys.argv[1:] and not bench:
        sys.exit("usage: blocks.py [--bench]")
    started = time.monotonic()
    fixtures = []
    with ForkCache() as cache:
        for make in BENCH if bench else FIXTURES:
            block_started = time.monotonic()
            fixtures.append(make(cache))
            if bench:
                print(f"blocks.py: {fixtures[-1]['name']} in {time.monotonic() - block_started:.1f} s",
                      file=sys.stderr)
    names = [f["name"] for f in fixtures]
    assert len(set(names)) == len(names), "fixture names must be unique"
    for f in fixtures:
        assert f["result"]["rejected"] == []
    json.dump({"fixtures": fixtures}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    print(f"blocks.py: {len(fixtures)} fixtures ({', '.join(names)}) in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
