// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

// Forwarder holds the logic of every deposit address, deployed once by the
// ForwarderFactory. A deposit address itself is a 65-byte EIP-1167 minimal
// proxy: 45 bytes that delegate every call here, followed by the 20 bytes of
// the store's receiving address. The proxy is small so that deploying it at
// sweep time costs little (code costs 200 gas a byte to store), and the
// receiver sits in its code, which no one can change.
//
// Everything a deposit address holds can go only to that receiver. Anyone may
// call flush (the operator's gas key in practice): the caller pays gas and
// chooses when, never where the money goes. There is no owner, no storage and
// no upgrade path.
contract Forwarder {
    // self is this contract's own address. Under DELEGATECALL address(this)
    // is the proxy's, so comparing the two tells a direct call from one
    // through a deposit address.
    address private immutable self = address(this);

    // TokenCallFailed reports a token whose balanceOf or transfer call failed,
    // returned malformed data or returned false.
    error TokenCallFailed(address token);
    // EtherTransferFailed reports that the receiver refused the ether.
    error EtherTransferFailed();
    // NotAProxy reports a call to this contract rather than to a deposit
    // address: it has no receiver of its own.
    error NotAProxy();

    // Ether sent to a deposit address after its deployment is kept until the
    // next flush; forwarding it here would make a plain transfer need more
    // than the 2,300-gas stipend that contracts sending ether often give.
    receive() external payable {}

    // receiver returns the receiving address of the deposit address called:
    // the 20 bytes after its 45-byte EIP-1167 proxy code.
    function receiver() public view returns (address payable r) {
        if (address(this) == self) revert NotAProxy();
        assembly {
            extcodecopy(address(), 0, 45, 20)
            r := shr(96, mload(0))
        }
    }

    // flush sends the whole balance of each listed ERC-20 token, then all the
    // ether, to the receiver. Tokens with a zero balance are skipped.
    function flush(address[] calldata tokens) external {
        address payable to = receiver();
        for (uint256 i = 0; i < tokens.length; i++) {
            _flushToken(tokens[i], to);
        }
        uint256 amount = address(this).balance;
        if (amount > 0) {
            (bool ok, ) = to.call{value: amount}("");
            if (!ok) revert EtherTransferFailed();
        }
    }

    // _flushToken uses low-level calls so that tokens which return no bool
    // from transfer (USDT on Ethereum) work: a call that succeeded with no
    // return data counts as success, 32 bytes must decode to true, anything
    // else reverts. A call to an address without code also "succeeds" with no
    // data, so balanceOf must return a full word: that rules out non-contracts.
    function _flushToken(address token, address to) private {
        (bool ok, bytes memory data) = token.staticcall(
            abi.encodeWithSelector(0x70a08231, address(this)) // balanceOf(address)
        );
        if (!ok || data.length < 32) revert TokenCallFailed(token);
        uint256 balance = abi.decode(data, (uint256));
        if (balance == 0) return;
        (ok, data) = token.call(
            abi.encodeWithSelector(0xa9059cbb, to, balance) // transfer(address,uint256)
        );
        if (!ok) revert TokenCallFailed(token);
        if (data.length != 0 && (data.length != 32 || abi.decode(data, (uint256)) != 1)) {
            revert TokenCallFailed(token);
        }
    }
}
