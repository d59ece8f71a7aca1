// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title DevnetStrategy
/// @notice A strategy implementing EigenLayer's `IStrategy` for one ERC-20, at a fixed 1:1
///         exchange rate between shares and underlying tokens.
/// @dev `eigen-utils` ships no strategy implementation. The StrategyManager transfers tokens to
///      the strategy and then calls `deposit`; the DelegationManager's withdrawal path calls
///      `withdraw`. Only the StrategyManager may call either, as in EigenLayer's StrategyBase.
///      1:1 keeps stake arithmetic in tests exact (stake = deposited amount × multiplier / 1e18).
contract DevnetStrategy {
    using SafeERC20 for IERC20;

    address public immutable strategyManager;
    IERC20 public immutable underlyingToken;
    uint256 public totalShares;

    event ExchangeRateEmitted(uint256 rate);
    event StrategyTokenSet(address token, uint8 decimals);

    error OnlyStrategyManager();
    error WrongToken();
    error NotEnoughShares();

    constructor(address strategyManager_, IERC20 token) {
        strategyManager = strategyManager_;
        underlyingToken = token;
        emit StrategyTokenSet(address(token), 18);
    }

    modifier onlyStrategyManager() {
        if (msg.sender != strategyManager) revert OnlyStrategyManager();
        _;
    }

    function deposit(IERC20 token, uint256 amount) external onlyStrategyManager returns (uint256 newShares) {
        if (token != underlyingToken) revert WrongToken();
        newShares = amount;
        totalShares += newShares;
        emit ExchangeRateEmitted(1e18);
    }

    function withdraw(address recipient, IERC20 token, uint256 amountShares) external onlyStrategyManager {
        if (token != underlyingToken) revert WrongToken();
        if (amountShares > totalShares) revert NotEnoughShares();
        totalShares -= amountShares;
        underlyingToken.safeTransfer(recipient, amountShares);
    }

    /// @dev The StrategyManager keeps per-staker shares; this strategy is stateless per user.
    function shares(address user) external view returns (uint256) {
        return IStrategyManagerShares(strategyManager).stakerDepositShares(user, address(this));
    }

    function sharesToUnderlying(uint256 amountShares) external pure returns (uint256) {
        return amountShares;
    }

    function sharesToUnderlyingView(uint256 amountShares) external pure returns (uint256) {
        return amountShares;
    }

    function underlyingToShares(uint256 amountUnderlying) external pure returns (uint256) {
        return amountUnderlying;
    }

    function underlyingToSharesView(uint256 amountUnderlying) external pure returns (uint256) {
        return amountUnderlying;
    }

    function userUnderlying(address user) external view returns (uint256) {
        return IStrategyManagerShares(strategyManager).stakerDepositShares(user, address(this));
    }

    function userUnderlyingView(address user) external view returns (uint256) {
        return IStrategyManagerShares(strategyManager).stakerDepositShares(user, address(this));
    }

    function explanation() external pure returns (string memory) {
        return "avs-exex devnet strategy: one ERC-20, shares 1:1 with the underlying token";
    }
}

/// @dev The one StrategyManager view the strategy reads.
interface IStrategyManagerShares {
    function stakerDepositShares(address staker, address strategy) external view returns (uint256);
}
