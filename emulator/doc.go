// Package emulator holds cmekd's cloud KMS emulators, one package a cloud
// (aws: AWS KMS, as package awsemu). Each speaks its cloud's own wire protocol
// well enough for that cloud's official SDK and CLI, keeps its state in
// memory, and imports nothing of cmekd's internal packages, so that it can
// ship and be reasoned about as a product of its own.
package emulator
