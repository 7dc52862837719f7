package checkout

// Catalogue holds every word the checkout page shows a payer, so that a
// translation is one more value of this type. Strings with verbs are
// fmt formats; their arguments are named beside them.
type Catalogue struct {
	Lang string // the BCP 47 tag of the <html lang> attribute

	PageTitle     string // %s: store name
	NotFoundTitle string
	NotFoundText  string
	OrderLabel    string
	TestMode      string // %s: network name
	WrongChain    string // %s: asset, network, asset
	TotalLabel    string
	PriceLabel    string
	PaidLabel     string
	SendLabel     string
	AddressLabel  string
	QRCaption     string
	QRAlt         string // %s: the payment URI
	PayRegion     string // accessible name of the payment details
	QRTitle       string // %s: the payment URI
	Copy          string
	Copied        string
	CopyFailed    string
	CopyAddress   string // accessible name of the address copy button
	CopyAmount    string // accessible name of the amount copy button
	OpenWallet    string
	ExpiresIn     string
	NoScript      string
	ReturnToShop  string
	PoweredBy     string

	// One title and one explanation per state the payer can see.
	Waiting, WaitingText         string
	Partial, PartialText         string // PartialText %s: remaining amount with unit
	Mempool, MempoolText         string
	Confirming, ConfirmingText   string // ConfirmingText %d of %d: confirmations, required
	Paid, PaidText               string
	Expired, ExpiredText         string
	PaidLate, PaidLateText       string
	DoubleSpent, DoubleSpentText string
	Invalid, InvalidText         string
}

// English is the default catalogue.
var English = Catalogue{
	Lang:          "en",
	PageTitle:     "Pay %s",
	NotFoundTitle: "Payment not found",
	NotFoundText:  "This payment link is not valid. Please check the link or go back to the shop and start the payment again.",
	OrderLabel:    "Order",
	TestMode:      "Test payment on %s: do not send real bitcoin.",
	WrongChain:    "Send %s on the %s network only. The same address exists on every EVM chain, but %s sent on another network does not pay this invoice.",
	TotalLabel:    "Total",
	PriceLabel:    "Price",
	PaidLabel:     "Received",
	SendLabel:     "Amount to send",
	AddressLabel:  "Bitcoin address",
	QRCaption:     "Scan with your bitcoin wallet",
	QRAlt:         "QR code for the payment request %s",
	PayRegion:     "Payment details",
	QRTitle:       "Payment request %s",
	Copy:          "Copy",
	Copied:        "Copied",
	CopyFailed:    "Select and copy by hand",
	CopyAddress:   "Copy the bitcoin address",
	CopyAmount:    "Copy the amount",
	OpenWallet:    "Open in wallet",
	ExpiresIn:     "Time left to pay",
	NoScript:      "This page refreshes itself every 10 seconds.",
	ReturnToShop:  "Return to the shop",
	PoweredBy:     "Payment processed by CryptoPay",

	Waiting:         "Waiting for your payment",
	WaitingText:     "Send the exact amount to the address below. This page updates by itself.",
	Partial:         "Partly paid",
	PartialText:     "We received part of the payment. Please send the remaining %s to the same address.",
	Mempool:         "Payment seen",
	MempoolText:     "Your payment is on the network and waiting for its first confirmation. You can close this page.",
	Confirming:      "Confirming your payment",
	ConfirmingText:  "%d of %d confirmations. You can close this page.",
	Paid:            "Paid",
	PaidText:        "Thank you: your payment is confirmed.",
	Expired:         "This payment request has expired",
	ExpiredText:     "Do not send any money to this address. Go back to the shop to start again.",
	PaidLate:        "Payment received after expiry",
	PaidLateText:    "Your payment arrived after this request expired. The shop has been told; please contact them.",
	DoubleSpent:     "Payment problem detected",
	DoubleSpentText: "A payment to this address was replaced or double spent and will not be counted. Please contact the shop before sending anything more.",
	Invalid:         "Payment not confirmed",
	InvalidText:     "Your payment was not confirmed in time. Please contact the shop with your order number.",
}
