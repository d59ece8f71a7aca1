//! Operator onboarding against the real EigenLayer contracts: deposit, register as an
//! EigenLayer operator, register with the AVS, deregister, query status, refresh stakes.
//!
//! Registration with the AVS goes through EigenLayer's RegistryCoordinator with:
//! - a BLS proof of possession: the operator's BLS key signs the G1 point the coordinator's
//!   `pubkeyRegistrationMessageHash(operator)` returns, so nobody can register a key they do not
//!   hold (or a rogue aggregate key);
//! - an AVSDirectory signature: the operator's ECDSA key signs
//!   `calculateOperatorAVSRegistrationDigestHash(operator, serviceManager, salt, expiry)`.
//!
//! [`OperatorClient::preflight_register`] runs every check the contracts would revert on
//! (stake, existing registration, key reuse, allowlist, freezing, quorum cap, chain) and
//! reports the specific problem before a transaction is sent.

use crate::{
    avs::AvsServiceManager,
    deployment::{Deployment, DeploymentError},
    devnet::DevnetToken,
    eigenlayer::interfaces::{
        BN254, IAVSDirectoryCalls, IBLSApkRegistry, IBLSApkRegistryCalls, IDelegationManager,
        IDelegationManagerCalls, IIndexRegistryCalls, IRegistryCoordinatorCalls, ISignatureUtils,
        IStakeRegistryCalls, IStrategyManagerCalls,
    },
    transactor::{Transactor, TxError},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256, aliases::U96},
    providers::Provider,
    signers::Signer,
    sol_types::SolCall,
    transports::{RpcError, TransportErrorKind},
};
use avs_bls::{BlsError, G1Point, G2Point, PubkeyRegistrationParams, SecretKey};
use serde::Serialize;

/// The RegistryCoordinator's `OperatorStatus.REGISTERED`.
pub const STATUS_REGISTERED: u8 = 1;
/// How long the AVSDirectory registration signature stays valid.
const REGISTRATION_SIGNATURE_TTL_SECS: u64 = 3_600;

/// Why an onboarding step was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    /// The wallet's chain is not the deployment's ([`DeploymentError::WrongChain`]).
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// The operator is not registered with EigenLayer's DelegationManager.
    #[error(
        "{operator} is not an EigenLayer operator: run `avs-node operator register` (it registers with EigenLayer first)"
    )]
    NotEigenLayerOperator {
        /// The operator.
        operator: Address,
    },
    /// The operator's weighted stake is below the quorum minimum.
    #[error(
        "{operator} has weighted stake {stake} in quorum {quorum}, below the minimum {minimum}: deposit more into the strategy"
    )]
    NotEnoughStake {
        /// The operator.
        operator: Address,
        /// The quorum.
        quorum: u8,
        /// The operator's weight.
        stake: U96,
        /// The quorum's minimum.
        minimum: U96,
    },
    /// The operator is already registered with the AVS.
    #[error("{operator} is already registered with the AVS (operator id {operator_id})")]
    AlreadyRegistered {
        /// The operator.
        operator: Address,
        /// Its operator id.
        operator_id: B256,
    },
    /// The BLS key belongs to another operator.
    #[error(
        "BLS key {operator_id} is already registered by {owner}: every operator needs its own BLS key (`avs-node keys bls new`)"
    )]
    BlsKeyInUse {
        /// The key's operator id (hash of its G1 public key).
        operator_id: B256,
        /// The operator that registered it.
        owner: Address,
    },
    /// The AVS's allowlist is on and the operator is not on it.
    #[error("{operator} is not on the AVS allowlist: ask the AVS owner to add it")]
    NotAllowlisted {
        /// The operator.
        operator: Address,
    },
    /// The operator was frozen after a successful challenge and can never register again.
    #[error(
        "{operator} is frozen by the AVS (it signed a response proven wrong) and cannot register"
    )]
    Frozen {
        /// The operator.
        operator: Address,
    },
    /// The quorum has reached its operator cap.
    #[error(
        "quorum {quorum} is full ({max} operators): registration needs churn, which this tool does not do"
    )]
    QuorumFull {
        /// The quorum.
        quorum: u8,
        /// Its cap.
        max: u32,
    },
    /// Deregistration of an operator that is not registered.
    #[error("{operator} is not registered with the AVS")]
    NotRegistered {
        /// The operator.
        operator: Address,
    },
    /// The BLS proof of possession could not be made.
    #[error("BLS proof of possession: {0}")]
    Bls(#[from] BlsError),
    /// The ECDSA signer refused to sign.
    #[error("signing the AVSDirectory registration digest: {0}")]
    Signer(#[from] alloy::signers::Error),
    /// A transaction failed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A contract view failed.
    #[error("reading contract state: {0}")]
    Call(#[from] alloy::contract::Error),
    /// The node did not answer.
    #[error("RPC error: {0}")]
    Rpc(#[from] RpcError<TransportErrorKind>),
}

/// What the chain says about an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorStatus {
    /// The operator's address.
    pub operator: Address,
    /// Registered with EigenLayer's DelegationManager.
    pub eigenlayer_operator: bool,
    /// Registered with the AVS (RegistryCoordinator status REGISTERED).
    pub registered: bool,
    /// Its operator id, once it registered a BLS key.
    pub operator_id: Option<B256>,
    /// Its current weighted stake per quorum of the deployment.
    pub stakes: Vec<(u8, U96)>,
    /// Frozen by the AVS.
    pub frozen: bool,
    /// Whether the AVS's allowlist is enabled.
    pub allowlist_enabled: bool,
    /// On the AVS's allowlist.
    pub allowlisted: bool,
}

/// Onboarding actions of one operator, signing with the provider's wallet (the operator's
/// ECDSA key).
#[derive(Debug)]
pub struct OperatorClient<'d, P> {
    tx: Transactor<P>,
    deployment: &'d Deployment,
    operator: Address,
}

impl<'d, P: Provider + Clone> OperatorClient<'d, P> {
    /// `provider` must send from `operator`'s wallet.
    pub fn new(provider: P, deployment: &'d Deployment, operator: Address) -> Self {
        Self {
            tx: Transactor::new(provider),
            deployment,
            operator,
        }
    }

    /// The transactions sent so far, with their gas.
    pub fn transactor(&self) -> &Transactor<P> {
        &self.tx
    }

    /// Mints `amount` of the devnet token to the operator (the devnet token has no owner).
    pub async fn mint_devnet_tokens(&mut self, amount: U256) -> Result<(), OnboardingError> {
        let mint = DevnetToken::mintCall {
            to: self.operator,
            amount,
        };
        self.tx
            .call(
                "DevnetToken.mint",
                self.deployment.eigenlayer.token,
                mint.abi_encode(),
            )
            .await?;
        Ok(())
    }

    /// Approves and deposits `amount` of the restaked token into the strategy.
    pub async fn deposit(&mut self, amount: U256) -> Result<U256, OnboardingError> {
        let el = &self.deployment.eigenlayer;
        let approve = DevnetToken::approveCall {
            spender: el.strategy_manager,
            amount,
        };
        self.tx
            .call("token.approve", el.token, approve.abi_encode())
            .await?;
        let deposit = IStrategyManagerCalls::depositIntoStrategyCall {
            strategy: el.strategy,
            token: el.token,
            amount,
        };
        self.tx
            .call(
                "StrategyManager.depositIntoStrategy",
                el.strategy_manager,
                deposit.abi_encode(),
            )
            .await?;
        Ok(amount)
    }

    /// Registers with EigenLayer's DelegationManager unless already registered. Returns whether
    /// a transaction was sent.
    pub async fn register_as_eigenlayer_operator(
        &mut self,
        metadata_uri: &str,
    ) -> Result<bool, OnboardingError> {
        let el = &self.deployment.eigenlayer;
        let delegation = IDelegationManagerCalls::new(el.delegation_manager, self.tx.provider());
        if delegation.isOperator(self.operator).call().await? {
            return Ok(false);
        }
        let register = IDelegationManagerCalls::registerAsOperatorCall {
            registeringOperatorDetails: IDelegationManager::OperatorDetails {
                __deprecated_earningsReceiver: self.operator,
                delegationApprover: Address::ZERO,
                stakerOptOutWindowBlocks: 0,
            },
            metadataURI: metadata_uri.to_owned(),
        };
        self.tx
            .call(
                "DelegationManager.registerAsOperator",
                el.delegation_manager,
                register.abi_encode(),
            )
            .await?;
        Ok(true)
    }

    /// Every check the RegistryCoordinator and our service manager would revert on.
    pub async fn preflight_register(&self, bls_key: &SecretKey) -> Result<(), OnboardingError> {
        let provider = self.tx.provider();
        let deployment = self.deployment;
        let el = &deployment.eigenlayer;
        let operator = self.operator;

        let actual = provider.get_chain_id().await?;
        if actual != deployment.chain_id {
            return Err(DeploymentError::WrongChain {
                expected: deployment.chain_id,
                actual,
            }
            .into());
        }
        let service_manager = AvsServiceManager::new(deployment.avs.service_manager, provider);
        if service_manager.frozen(operator).call().await? {
            return Err(OnboardingError::Frozen { operator });
        }
        if service_manager.allowlistEnabled().call().await?
            && !service_manager.allowlisted(operator).call().await?
        {
            return Err(OnboardingError::NotAllowlisted { operator });
        }
        let coordinator = IRegistryCoordinatorCalls::new(el.registry_coordinator, provider);
        if coordinator.getOperatorStatus(operator).call().await? == STATUS_REGISTERED {
            let operator_id = coordinator.getOperatorId(operator).call().await?;
            return Err(OnboardingError::AlreadyRegistered {
                operator,
                operator_id,
            });
        }
        let operator_id = bls_key.public_key().operator_id().0;
        let owner = IBLSApkRegistryCalls::new(el.bls_apk_registry, provider)
            .pubkeyHashToOperator(operator_id)
            .call()
            .await?;
        if owner != Address::ZERO && owner != operator {
            return Err(OnboardingError::BlsKeyInUse { operator_id, owner });
        }
        if !IDelegationManagerCalls::new(el.delegation_manager, provider)
            .isOperator(operator)
            .call()
            .await?
        {
            return Err(OnboardingError::NotEigenLayerOperator { operator });
        }
        let stake_registry = IStakeRegistryCalls::new(el.stake_registry, provider);
        let index_registry = IIndexRegistryCalls::new(el.index_registry, provider);
        for &quorum in &deployment.params.avs.quorum_numbers {
            let stake = stake_registry
                .weightOfOperatorForQuorum(quorum, operator)
                .call()
                .await?;
            let minimum = stake_registry.minimumStakeForQuorum(quorum).call().await?;
            if stake < minimum {
                return Err(OnboardingError::NotEnoughStake {
                    operator,
                    quorum,
                    stake,
                    minimum,
                });
            }
            let max = coordinator
                .getOperatorSetParams(quorum)
                .call()
                .await?
                .maxOperatorCount;
            if index_registry
                .totalOperatorsForQuorum(quorum)
                .call()
                .await?
                >= max
            {
                return Err(OnboardingError::QuorumFull { quorum, max });
            }
        }
        Ok(())
    }

    /// Registers with the AVS in the deployment's quorums after the pre-flight checks. `signer`
    /// is the operator's ECDSA key (the same account the provider sends from); `socket` is how
    /// peers reach the operator's node (its p2p multiaddress).
    pub async fn register_with_avs(
        &mut self,
        bls_key: &SecretKey,
        signer: &(impl Signer + Sync),
        socket: &str,
    ) -> Result<B256, OnboardingError> {
        self.preflight_register(bls_key).await?;
        let provider = self.tx.provider();
        let deployment = self.deployment;
        let el = &deployment.eigenlayer;
        let coordinator = IRegistryCoordinatorCalls::new(el.registry_coordinator, provider);

        let message = coordinator
            .pubkeyRegistrationMessageHash(self.operator)
            .call()
            .await?;
        let pop = PubkeyRegistrationParams::new(
            bls_key,
            &G1Point {
                x: message.X,
                y: message.Y,
            },
        )?;

        let now = provider
            .get_block_by_number(Default::default())
            .await?
            .map(|block| block.header.timestamp)
            .unwrap_or_default();
        let salt = B256::from(rand::random::<[u8; 32]>());
        let expiry = U256::from(now + REGISTRATION_SIGNATURE_TTL_SECS);
        let digest = IAVSDirectoryCalls::new(el.avs_directory, provider)
            .calculateOperatorAVSRegistrationDigestHash(
                self.operator,
                deployment.avs.service_manager,
                salt,
                expiry,
            )
            .call()
            .await?;
        let signature = signer.sign_hash(&digest).await?;

        let register = IRegistryCoordinatorCalls::registerOperatorCall {
            quorumNumbers: Bytes::from(deployment.params.avs.quorum_numbers.clone()),
            socket: socket.to_owned(),
            params: IBLSApkRegistry::PubkeyRegistrationParams {
                pubkeyRegistrationSignature: g1(&pop.pubkey_registration_signature),
                pubkeyG1: g1(&pop.pubkey_g1),
                pubkeyG2: g2(&pop.pubkey_g2),
            },
            operatorSignature: ISignatureUtils::SignatureWithSaltAndExpiry {
                signature: Bytes::from(signature.as_bytes().to_vec()),
                salt,
                expiry,
            },
        };
        self.tx
            .call(
                "RegistryCoordinator.registerOperator",
                el.registry_coordinator,
                register.abi_encode(),
            )
            .await?;
        Ok(bls_key.public_key().operator_id().0)
    }

    /// The whole devnet onboarding of a fresh account: mint `stake` devnet tokens, deposit them,
    /// register with EigenLayer and with the AVS. Returns the operator id.
    pub async fn onboard_devnet(
        &mut self,
        stake: U256,
        bls_key: &SecretKey,
        signer: &(impl Signer + Sync),
        socket: &str,
    ) -> Result<B256, OnboardingError> {
        self.mint_devnet_tokens(stake).await?;
        self.deposit(stake).await?;
        self.register_as_eigenlayer_operator("https://avs-exex.invalid/devnet-operator.json")
            .await?;
        self.register_with_avs(bls_key, signer, socket).await
    }

    /// The RegistryCoordinator's address, once it says this operator is registered.
    async fn registered_coordinator(&self) -> Result<Address, OnboardingError> {
        let address = self.deployment.eigenlayer.registry_coordinator;
        let coordinator = IRegistryCoordinatorCalls::new(address, self.tx.provider());
        if coordinator.getOperatorStatus(self.operator).call().await? != STATUS_REGISTERED {
            return Err(OnboardingError::NotRegistered {
                operator: self.operator,
            });
        }
        Ok(address)
    }

    /// Replaces the registered operator's socket (where its node's p2p address is published,
    /// `RegistryCoordinator.updateSocket`).
    pub async fn update_socket(&mut self, socket: &str) -> Result<(), OnboardingError> {
        let coordinator = self.registered_coordinator().await?;
        let call = IRegistryCoordinatorCalls::updateSocketCall {
            socket: socket.to_owned(),
        };
        self.tx
            .call(
                "RegistryCoordinator.updateSocket",
                coordinator,
                call.abi_encode(),
            )
            .await?;
        Ok(())
    }

    /// Deregisters from all of the deployment's quorums.
    pub async fn deregister(&mut self) -> Result<(), OnboardingError> {
        let coordinator = self.registered_coordinator().await?;
        let call = IRegistryCoordinatorCalls::deregisterOperatorCall {
            quorumNumbers: Bytes::from(self.deployment.params.avs.quorum_numbers.clone()),
        };
        self.tx
            .call(
                "RegistryCoordinator.deregisterOperator",
                coordinator,
                call.abi_encode(),
            )
            .await?;
        Ok(())
    }
}

/// Reads an operator's status from EigenLayer and the AVS.
pub async fn status<P: Provider>(
    provider: &P,
    deployment: &Deployment,
    operator: Address,
) -> Result<OperatorStatus, OnboardingError> {
    let el = &deployment.eigenlayer;
    let coordinator = IRegistryCoordinatorCalls::new(el.registry_coordinator, provider);
    let registered = coordinator.getOperatorStatus(operator).call().await? == STATUS_REGISTERED;
    let operator_id = coordinator.getOperatorId(operator).call().await?;
    let stake_registry = IStakeRegistryCalls::new(el.stake_registry, provider);
    let mut stakes = Vec::new();
    for &quorum in &deployment.params.avs.quorum_numbers {
        stakes.push((
            quorum,
            stake_registry
                .weightOfOperatorForQuorum(quorum, operator)
                .call()
                .await?,
        ));
    }
    let service_manager = AvsServiceManager::new(deployment.avs.service_manager, provider);
    Ok(OperatorStatus {
        operator,
        eigenlayer_operator: IDelegationManagerCalls::new(el.delegation_manager, provider)
            .isOperator(operator)
            .call()
            .await?,
        registered,
        operator_id: (operator_id != B256::ZERO).then_some(operator_id),
        stakes,
        frozen: service_manager.frozen(operator).call().await?,
        allowlist_enabled: service_manager.allowlistEnabled().call().await?,
        allowlisted: service_manager.allowlisted(operator).call().await?,
    })
}

/// Refreshes the StakeRegistry's record of `operators`' stakes (`RegistryCoordinator.updateOperators`).
///
/// Stakes in the registries only change when someone calls this; the seed AVSs had operators do
/// it by hand. Anyone may call it; the node runs it periodically.
pub async fn update_stakes<P: Provider>(
    tx: &mut Transactor<P>,
    deployment: &Deployment,
    operators: Vec<Address>,
) -> Result<(), OnboardingError> {
    let call = IRegistryCoordinatorCalls::updateOperatorsCall { operators };
    tx.call(
        "RegistryCoordinator.updateOperators",
        deployment.eigenlayer.registry_coordinator,
        call.abi_encode(),
    )
    .await?;
    Ok(())
}

fn g1(point: &G1Point) -> BN254::G1Point {
    BN254::G1Point {
        X: point.x,
        Y: point.y,
    }
}

fn g2(point: &G2Point) -> BN254::G2Point {
    BN254::G2Point {
        X: point.x,
        Y: point.y,
    }
}
