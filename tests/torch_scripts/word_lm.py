"""A word-level language model shaped like the PyTorch examples' ``word_language_model``:
a corpus read from text files into a dictionary, ``batchify``/``get_batch`` over BPTT
windows, an ``RNNModel`` (embedding -> LSTM/GRU/RNN -> linear decoder, optionally tied)
or a ``TransformerModel`` (a subclass of ``nn.Transformer`` whose decoder is replaced by a
linear layer, with sinusoidal positional encoding and a causal mask), CrossEntropyLoss,
``clip_grad_norm_`` and the hand-written SGD update ``p.data.add_(p.grad, alpha=-lr)``,
learning-rate annealing on the validation loss, and a state-dict checkpoint reloaded.

    python word_lm.py --model LSTM
    python word_lm.py --model Transformer

torch's and arraylib's random generators differ, so every parameter is set from a formula
(sines of its element index) under no_grad and dropout is 0; the loss is printed at every
step, rounded to 4 decimals."""
import argparse
import math
import os

import torch
import torch.nn as nn

parser = argparse.ArgumentParser(description="word-level language model (LSTM/Transformer)")
parser.add_argument("--data", type=str, default="./data", help="location of the data corpus")
parser.add_argument("--model", type=str, default="LSTM",
                    help="type of network (RNN_TANH, RNN_RELU, LSTM, GRU, Transformer)")
parser.add_argument("--emsize", type=int, default=16, help="size of word embeddings")
parser.add_argument("--nhid", type=int, default=24, help="number of hidden units per layer")
parser.add_argument("--nlayers", type=int, default=2, help="number of layers")
parser.add_argument("--lr", type=float, default=5.0, help="initial learning rate")
parser.add_argument("--clip", type=float, default=0.25, help="gradient clipping")
parser.add_argument("--epochs", type=int, default=5, help="upper epoch limit")
parser.add_argument("--batch_size", type=int, default=2, metavar="N", help="batch size")
parser.add_argument("--bptt", type=int, default=6, help="sequence length")
parser.add_argument("--dropout", type=float, default=0.0, help="dropout applied to layers")
parser.add_argument("--tied", action="store_true", help="tie the word embedding and softmax")
parser.add_argument("--nhead", type=int, default=2, help="heads of the transformer model")
parser.add_argument("--save", type=str, default="model.pt", help="path to save the model")
args = parser.parse_args()
torch.manual_seed(1111)
device = torch.device("cpu")

TEXT = """the quick brown fox jumps over the lazy dog
the lazy dog sleeps in the warm sun
a quick brown dog chases the fox
the fox runs over the hill and the dog follows
the sun sets over the hill
a lazy fox sleeps and the quick dog runs
the warm sun rises over the brown hill
"""
VALID = """the quick dog jumps over the lazy fox
the brown fox sleeps in the sun
"""


###############################################################################
# Load data
###############################################################################
class Dictionary(object):
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus(object):
    def __init__(self, path):
        self.dictionary = Dictionary()
        self.train = self.tokenize(os.path.join(path, "train.txt"))
        self.valid = self.tokenize(os.path.join(path, "valid.txt"))

    def tokenize(self, path):
        """Tokenizes a text file."""
        assert os.path.exists(path)
        with open(path, "r", encoding="utf8") as f:  # add words to the dictionary
            for line in f:
                for word in line.split() + ["<eos>"]:
                    self.dictionary.add_word(word)
        with open(path, "r", encoding="utf8") as f:  # tokenize file content
            idss = []
            for line in f:
                ids = [self.dictionary.word2idx[word] for word in line.split() + ["<eos>"]]
                idss.append(torch.tensor(ids).type(torch.int64))
            ids = torch.cat(idss)
        return ids


os.makedirs(args.data, exist_ok=True)
for name, text in (("train.txt", TEXT), ("valid.txt", VALID)):
    with open(os.path.join(args.data, name), "w", encoding="utf8") as f:
        f.write(text)
corpus = Corpus(args.data)
print(f"vocabulary {len(corpus.dictionary)} words, {corpus.train.size(0)} training tokens, "
      f"{corpus.valid.size(0)} validation tokens")


def batchify(data, bsz):
    # Work out how cleanly we can divide the dataset into bsz parts.
    nbatch = data.size(0) // bsz
    # Trim off any extra elements that wouldn't cleanly fit (remainders).
    data = data.narrow(0, 0, nbatch * bsz)
    # Evenly divide the data across the bsz batches.
    data = data.view(bsz, -1).t().contiguous()
    return data.to(device)


eval_batch_size = 2
train_data = batchify(corpus.train, args.batch_size)
val_data = batchify(corpus.valid, eval_batch_size)
print(f"train_data {tuple(train_data.shape)}, val_data {tuple(val_data.shape)}")


###############################################################################
# Build the model
###############################################################################
class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return decoded, hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))
        else:
            return weight.new_zeros(self.nlayers, bsz, self.nhid)


class PositionalEncoding(nn.Module):
    """Sine and cosine positional encodings, added to the token embeddings."""

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super(PositionalEncoding, self).__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Transformer):
    """Container module with an encoder, a transformer encoder and a linear decoder."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super(TransformerModel, self).__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                                               num_encoder_layers=nlayers,
                                               num_decoder_layers=1, dropout=dropout)
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)  # replaces nn.Transformer's decoder

    def _generate_square_subsequent_mask(self, sz):
        return torch.log(torch.tril(torch.ones(sz, sz)))

    def forward(self, src, has_mask=True):
        if has_mask:
            device = src.device
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                mask = self._generate_square_subsequent_mask(len(src)).to(device)
                self.src_mask = mask
        else:
            self.src_mask = None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.encoder(src, mask=self.src_mask)
        return self.decoder(output)


ntokens = len(corpus.dictionary)
if args.model == "Transformer":
    model = TransformerModel(ntokens, args.emsize, args.nhead, args.nhid, args.nlayers,
                             args.dropout).to(device)
else:
    model = RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout,
                     args.tied).to(device)
with torch.no_grad():  # the same initial weights in every framework
    for k, (name, p) in enumerate(model.named_parameters()):
        ramp = torch.arange(p.numel(), dtype=torch.float32)
        scale = 0.5 / math.sqrt(p.size(-1)) if p.dim() > 1 else 0.1
        p.copy_(scale * torch.sin(0.37 * ramp + 0.5 * k).view_as(p))
n_params = sum(p.numel() for p in model.parameters())
print(f"{args.model}: {len(list(model.parameters()))} parameter tensors, {n_params} parameters")
criterion = nn.CrossEntropyLoss()


###############################################################################
# Training code
###############################################################################
def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i):
    seq_len = min(args.bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def evaluate(data_source):
    model.eval()  # turn on evaluation mode, which disables dropout
    total_loss = 0.
    if args.model != "Transformer":
        hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, args.bptt):
            data, targets = get_batch(data_source, i)
            if args.model == "Transformer":
                output = model(data)
                output = output.view(-1, ntokens)
            else:
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


step = 0


def train(epoch):
    global step
    model.train()  # turn on training mode (dropout is 0 here anyway)
    if args.model != "Transformer":
        hidden = model.init_hidden(args.batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
        data, targets = get_batch(train_data, i)
        # Starting each batch, we detach the hidden state from how it was previously
        # produced. If we didn't, the model would try backpropagating all the way to
        # start of the dataset.
        model.zero_grad()
        if args.model == "Transformer":
            output = model(data)
            output = output.view(-1, ntokens)
        else:
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()

        # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        print(f"| epoch {epoch} | batch {batch} | step {step} | lr {lr:.2f} | "
              f"loss {loss.item():.4f} | grad norm {norm.item():.4f}")
        step += 1


lr = args.lr
best_val_loss = None
for epoch in range(1, args.epochs + 1):
    train(epoch)
    val_loss = evaluate(val_data)
    print(f"| end of epoch {epoch} | valid loss {val_loss:.4f} | "
          f"valid ppl {math.exp(val_loss):.3f}")
    # Save the model if the validation loss is the best we've seen so far.
    if not best_val_loss or val_loss < best_val_loss:
        torch.save(model.state_dict(), args.save)
        best_val_loss = val_loss
    else:
        # Anneal the learning rate if no improvement has been seen in the validation dataset.
        lr /= 4.0

# Load the best saved model, run on the validation data again.
model.load_state_dict(torch.load(args.save))
print(f"| reloaded | valid loss {evaluate(val_data):.4f} | best {best_val_loss:.4f}")
print("done")
