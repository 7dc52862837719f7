// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

// Test tokens for the forwarder's tests, never deployed outside them. Each is
// the smallest token that shows one behaviour of real tokens on mainnet.

// BoolToken is a standard ERC-20 with 6 decimals, like USDC: transfer returns
// true. Anyone may mint.
contract BoolToken {
    mapping(address => uint256) public balanceOf;
    uint8 public constant decimals = 6;
    event Transfer(address indexed from, address indexed to, uint256 value);

    function mint(address to, uint256 value) external {
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value, "balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}

// NoBoolToken behaves like USDT on Ethereum: transfer returns nothing, so a
// caller that decodes a bool from it reverts.
contract NoBoolToken {
    mapping(address => uint256) public balanceOf;
    uint8 public constant decimals = 6;
    event Transfer(address indexed from, address indexed to, uint256 value);

    function mint(address to, uint256 value) external {
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external {
        require(balanceOf[msg.sender] >= value, "balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
    }
}

// FalseToken reports failure the old way: transfer returns false without
// reverting and moves nothing. A flush must not take that for success.
contract FalseToken {
    mapping(address => uint256) public balanceOf;
    uint8 public constant decimals = 18;

    function mint(address to, uint256 value) external {
        balanceOf[to] += value;
    }

    function transfer(address, uint256) external pure returns (bool) {
        return false;
    }
}

// EtherRefuser is a receiver that rejects ether, to show that a flush to it
// reverts rather than losing or redirecting the money.
contract EtherRefuser {
    receive() external payable {
        revert("no ether");
    }
}
