#!/usr/bin/env python3
"""Oracle fixtures for stateless block re-execution, computed by the Ethereum execution spec.

The stateless verifier recomputes a block's post-state root from a witness; its expected
results must not come from the code under test. This script builds small Prague blocks
(pre-state, block environment, signed transactions), executes each one with the execution
specification's own state-transition tool (t8n, from the `ethereum-execution` package pinned in
tools/spec/requirements.txt) and prints ONE JSON document to stdout:

    {"fixtures": [{"name", "description", "fork", "chainId", "pre", "preStateRoot",
                   "env", "txs", "result", "post"}, ...]}

Run it from the repository root (it needs no network and is deterministic):

    bash tools/install-spec.sh      # once: the pinned spec in .tools/spec-venv
    .tools/spec-venv/bin/python exex/stateless/tests/spec/blocks.py > out.json

Every fixture asserts that the spec accepted all of its transactions and the block itself
(`rejected` is empty, no block exception), plus the property the fixture exists for (a
storage-trie or account-trie branch collapse, an EIP-6780 deletion, system-call writes, ...).
Any failed assertion aborts the run with a non-zero exit status and no JSON on stdout.

Format notes:
- quantities are minimal 0x-hex; storage keys are 32-byte 0x-hex; addresses are lowercase.
- `pre`/`post` list every account with all four fields (balance, nonce, code, storage).
- `txs` are raw EIP-2718 encodings (legacy: the RLP list; typed: type byte || RLP payload).
- `env.blockHashes` maps ancestor numbers to hashes; its entry for number-1 is `parentHash`
  (the spec's t8n takes the parent hash, e.g. for the EIP-2935 system call, from there).
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
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

try:
    import coincurve
    from ethereum_rlp import rlp
    from ethereum_types.bytes import Bytes, Bytes0, Bytes32
    from ethereum_types.numeric import U64, U256, Uint

    from ethereum.crypto.hash import keccak256
    from ethereum.forks.prague import transactions as ptx
    from ethereum.forks.prague.fork_types import Address
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
    "STOP": 0x00, "ADD": 0x01, "GT": 0x11, "ISZERO": 0x15, "CALLER": 0x33, "CALLVALUE": 0x34,
    "CALLDATALOAD": 0x35, "CALLDATASIZE": 0x36, "CODECOPY": 0x39, "NUMBER": 0x43,
    "POP": 0x50, "SSTORE": 0x55, "JUMP": 0x56, "JUMPI": 0x57, "JUMPDEST": 0x5B,
    "PUSH0": 0x5F, "DUP1": 0x80, "DUP2": 0x81, "CREATE": 0xF0, "RETURN": 0xF3,
    "CREATE2": 0xF5, "SELFDESTRUCT": 0xFF,
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


def block_hash(number: int) -> bytes:
    return h(b"block " + str(number).encode())


def make_env(name: str, number: int, coinbase: bytes, base_fee: int = 7 * GWEI,
             withdrawals: Tuple[Tuple[int, int, bytes, int], ...] = (),
             ancestors: int = 3) -> Dict[str, Any]:
    hashes = {n: block_hash(n) for n in range(max(0, number - ancestors), number)}
    return {
        "coinbase": coinbase,
        "gasLimit": 30_000_000,
        "number": number,
        "timestamp": 1_750_000_000 + 12 * number,
        "baseFeePerGas": base_fee,
        "prevRandao": h(b"prevrandao " + name.encode()),
        "parentBeaconBlockRoot": h(b"beacon root " + name.encode()),
        "excessBlobGas": 0,
        "parentHash": hashes[number - 1],
        "blockHashes": hashes,
        "withdrawals": list(withdrawals),  # (index, validatorIndex, address, amount in gwei)
    }


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
            env: Dict[str, Any], txs: Txs, cache: ForkCache) -> Dict[str, Any]:
    result, post_alloc, body, pre_root = run_t8n(pre, env, txs, cache)
    if result.get("rejected"):
        raise SystemExit(f"{name}: the spec rejected transactions: {result['rejected']}")
    if "blockException" in result:
        raise SystemExit(f"{name}: the spec rejected the block: {result['blockException']}")
    assert body == hx(rlp.encode(txs.objects)), f"{name}: t8n re-encoded the transactions differently"
    assert len(result["receipts"]) == len(txs.raw)
    requests = result.get("requests", [])
    expected_requests_hash = hashlib.sha256(
        b"".join(hashlib.sha256(bytes.fromhex(r[2:])).digest() for r in requests)
    ).hexdigest()
    assert result["requestsHash"] == "0x" + expected_requests_hash, f"{name}: requestsHash"
    return {
        "name": name,
        "description": description,
        "fork": FORK,
        "chainId": CHAIN_ID,
        "pre": alloc_json(pre),
        "preStateRoot": pre_root,
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
    history = {n % HISTORY_SERVE_WINDOW: word(block_hash(n)) for n in (number - 3, number - 2)}
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


def main() -> int:
    started = time.monotonic()
    with ForkCache() as cache:
        fixtures = [make(cache) for make in FIXTURES]
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
