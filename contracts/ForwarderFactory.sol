// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Forwarder} from "./Forwarder.sol";

// ForwarderFactory deploys deposit addresses with CREATE2. A deposit address
// is an EIP-1167 minimal proxy to the factory's Forwarder with the store's
// receiving address appended to its code, so its address
//
//   keccak256(0xff ++ factory ++ salt ++ keccak256(initCode(receiver)))[12:]
//
// is known before anything is deployed. The gateway computes it off chain,
// the customer pays to it as to any empty address (a plain ether transfer
// costs 21,000 gas), and the proxy is deployed only when its money is swept.
// Because the receiver is part of the init code, nothing else can ever be
// deployed at that address: its money can reach that receiver only.
contract ForwarderFactory {
    // implementation is the Forwarder every deposit address delegates to,
    // created by this factory's constructor: its address is the factory's
    // first CREATE address (nonce 1), which the gateway computes off chain.
    address public immutable implementation;

    // Sweep names one deposit address by its receiver and salt.
    struct Sweep {
        address payable receiver;
        bytes32 salt;
    }

    // Deployed is logged once per deposit address, when it is created.
    event Deployed(address indexed forwarder, address indexed receiver, bytes32 salt);

    // DeployFailed reports a CREATE2 that produced nothing.
    error DeployFailed();

    constructor() {
        implementation = address(new Forwarder());
    }

    // initCode returns the creation code of the deposit address for receiver:
    // the EIP-1167 constructor (copy 0x41 = 65 bytes of code and return it),
    // the 45-byte proxy to implementation, then the 20-byte receiver, which
    // the proxy never executes (its code ends in RETURN or REVERT before it).
    function initCode(address receiver) public view returns (bytes memory) {
        return abi.encodePacked(
            hex"3d604180600a3d3981f3", // constructor: return code[10:75]
            hex"363d3d373d3d3d363d73", // proxy: copy calldata, PUSH20
            implementation,
            hex"5af43d82803e903d91602b57fd5bf3", // DELEGATECALL, return or revert its result
            receiver
        );
    }

    // forwarderAddress returns the deposit address for receiver and salt,
    // deployed or not.
    function forwarderAddress(address receiver, bytes32 salt) public view returns (address) {
        bytes32 h = keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, keccak256(initCode(receiver))));
        return address(uint160(uint256(h)));
    }

    // deploy creates the deposit address for receiver and salt if it does not
    // exist yet and returns it either way.
    function deploy(address payable receiver, bytes32 salt) public returns (address payable at) {
        bytes memory code = initCode(receiver);
        at = payable(address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, keccak256(code)))))));
        if (at.code.length > 0) return at;
        address created;
        assembly {
            created := create2(0, add(code, 32), mload(code), salt)
        }
        if (created != at) revert DeployFailed();
        emit Deployed(at, receiver, salt);
    }

    // deployAndFlush deploys each listed deposit address that does not exist
    // yet and flushes ether and each listed token from it to its own
    // receiver. One transaction sweeps many deposit addresses; any failure
    // reverts it all.
    function deployAndFlush(Sweep[] calldata sweeps, address[] calldata tokens) external {
        for (uint256 i = 0; i < sweeps.length; i++) {
            Forwarder(deploy(sweeps[i].receiver, sweeps[i].salt)).flush(tokens);
        }
    }
}
