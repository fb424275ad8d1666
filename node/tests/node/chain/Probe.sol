// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// Test contract for the embedded chain's conformance and benchmark suites: string reverts,
/// custom errors, panics, events in every topic shape, storage, block context.
contract Probe {
    event Ping(uint256 indexed id, address indexed from, bytes32 indexed tag, uint256 value);
    event Note(string text);
    event Bulk(uint256 indexed batch, uint256 indexed index, uint256 value);

    error Denied(address who, uint256 code);

    uint256 public counter;
    mapping(uint256 => uint256) public slots;

    function ping(uint256 id, bytes32 tag) external payable {
        counter += 1;
        emit Ping(id, msg.sender, tag, msg.value);
        emit Note("ping");
    }

    function emitMany(uint256 batch, uint256 n) external {
        for (uint256 i = 0; i < n; i++) {
            emit Bulk(batch, i, i * 2);
        }
    }

    function store(uint256 key, uint256 value) external {
        slots[key] = value;
    }

    function clear(uint256 key) external {
        delete slots[key];
    }

    function failWith(string calldata reason) external pure {
        revert(reason);
    }

    function failCustom(uint256 code) external view {
        revert Denied(msg.sender, code);
    }

    function failPanic(uint256 d) external pure returns (uint256) {
        return 10 / d;
    }

    function failEmpty() external pure {
        revert();
    }

    function burn(uint256 rounds) external returns (uint256 acc) {
        for (uint256 i = 0; i < rounds; i++) {
            acc = uint256(keccak256(abi.encode(acc, i)));
            slots[i] = acc;
        }
    }

    function context() external view returns (uint256 number, uint256 time, uint256 chainId, uint256 baseFee, bytes32 parentHash) {
        return (block.number, block.timestamp, block.chainid, block.basefee, blockhash(block.number - 1));
    }
}
