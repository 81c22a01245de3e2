print("tokenscan")
